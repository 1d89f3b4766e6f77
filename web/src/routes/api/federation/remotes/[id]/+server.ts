import { route } from '$lib/server/http';
import { unlinkRemote } from '$lib/server/federation';

/** Forgets a linked deployment (its link token with it). */
export const DELETE = route('admin', async ({ event, co }) => {
  await unlinkRemote(co.database.db, event.params.id);
  return { removed: true };
});
