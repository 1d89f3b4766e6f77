import { route } from '$lib/server/http';
import { listPasskeys } from '$lib/server/passkeys';

/** The signed-in user's passkeys (never their keys: only names, dates and backup state). */
export const GET = route('user', async ({ co, user }) => ({ passkeys: await listPasskeys(co.database.db, user.id) }));
