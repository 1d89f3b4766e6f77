import { route } from '$lib/server/http';
import { registrationOptions, relyingParty } from '$lib/server/passkeys';

/** Starts adding a passkey: creation options with a fresh single-use challenge (passkeys.ts). */
export const POST = route('user', async ({ event, co, user }) => ({ options: await registrationOptions(co.database.db, user, relyingParty(event.url)) }));
