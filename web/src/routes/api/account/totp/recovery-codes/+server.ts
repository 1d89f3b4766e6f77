import { body, route } from '$lib/server/http';
import { clientAddress } from '$lib/server/client-address';
import { regenerateRecoveryCodes } from '$lib/server/second-factor';
import { secretKey } from '$lib/server/secret-key';

/** `{ password }` or `{ code }`: ten new recovery codes replace the old ones; shown this once. */
export const POST = route('user', async ({ event, co, user }) => regenerateRecoveryCodes(co.database.db, await secretKey(), user, await body(event, 2048), clientAddress(event)));
