import { route } from '$lib/server/http';
import { clientAddress } from '$lib/server/client-address';
import { loginOptions, relyingParty } from '$lib/server/passkeys';

/** Starts a passkey sign-in (usernameless): request options with a fresh single-use challenge, capped per address. */
export const POST = route('none', async ({ event, co }) => ({ options: await loginOptions(co.database.db, relyingParty(event.url), clientAddress(event)) }));
