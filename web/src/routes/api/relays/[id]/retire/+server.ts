import { route } from '$lib/server/http';
import { retireRelay } from '$lib/server/relay-lifecycle';

/** Retires a drained (or lost) storage server that holds nothing any more (#16). Administrators only; a replay finds the relay already moved on (409). */
export const POST = route('admin', async ({ co, user, event }) => ({ relay: await retireRelay(co.database.db, user.id, event.params.id) }));
