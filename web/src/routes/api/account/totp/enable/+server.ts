import { body, route } from '$lib/server/http';
import { enableTotp } from '$lib/server/second-factor';
import { secretKey } from '$lib/server/secret-key';

/** `{ code }` from the authenticator: TOTP goes on and the user's other sessions end; answers the ten recovery codes, shown this once. */
export const POST = route('user', async ({ event, co, user }) => enableTotp(co.database.db, await secretKey(), user, await body(event, 1024), new Date(), event.locals.sessionToken));
