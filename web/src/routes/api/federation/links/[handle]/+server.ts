import { route } from '$lib/server/http';
import { revokeLink } from '$lib/server/federation';

/** Revokes a link: its token and every browser linked under it are refused from now on. */
export const DELETE = route('admin', async ({ event, co }) => {
  await revokeLink(co.database.db, event.params.handle);
  return { revoked: true };
});
