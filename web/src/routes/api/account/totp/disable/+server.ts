import { body, route } from '$lib/server/http';
import { clientAddress } from '$lib/server/client-address';
import { disableTotp } from '$lib/server/second-factor';
import { secretKey } from '$lib/server/secret-key';

/** `{ password }` or `{ code }`: TOTP goes off and the recovery codes with it. */
export const POST = route('user', async ({ event, co, user }) => disableTotp(co.database.db, await secretKey(), user, await body(event, 2048), clientAddress(event)));
