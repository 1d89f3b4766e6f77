import { body, route } from '$lib/server/http';
import { registerPasskey, relyingParty } from '$lib/server/passkeys';

/** `{ name, response }`: the browser's answer to the creation options; the passkey is kept when it verifies. */
export const POST = route('user', async ({ event, co, user }) => ({ passkey: await registerPasskey(co.database.db, user, relyingParty(event.url), await body(event)) }), 201);
