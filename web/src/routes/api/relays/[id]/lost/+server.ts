import { route } from '$lib/server/http';
import { markLost } from '$lib/server/relay-lifecycle';

/** Marks a storage server lost for good: its shares are rebuilt on others from k good helpers (#16). Administrators only; a replay finds the relay already moved on (409). */
export const POST = route('admin', async ({ co, user, event }) => ({ relay: await markLost(co.database.db, user.id, event.params.id) }));
