import { route } from '$lib/server/http';
import { drainRelay } from '$lib/server/relay-lifecycle';

/** Starts draining a storage server: it takes no new shares and its shares move to others (#16). Administrators only; a replay finds the relay already moved on (409). */
export const POST = route('admin', async ({ co, user, event }) => ({ relay: await drainRelay(co.database.db, user.id, event.params.id) }));
