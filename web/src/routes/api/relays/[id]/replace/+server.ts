import { body, route } from '$lib/server/http';
import { startReplacement } from '$lib/server/relay-replace';

/**
 * Queues "replace this storage server by another at a fresh x": every share moves onto the other server
 * during the next renewal of its file, this server's copy is deleted after the grace period (#16). Body
 * `{ "to": relay id }`. Administrators only; a replay finds the replacement under way (409).
 */
export const POST = route('admin', async ({ co, user, event }) => ({
  replacement: await startReplacement(co.database.db, user.id, event.params.id, await body(event), co.config.relayOfflineAfterMs)
}));
