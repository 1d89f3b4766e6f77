import { route } from '$lib/server/http';
import { revokeUserLink } from '$lib/server/federation';

/** Unlinks one browser: its signed requests are refused from now on (FEDERATION_REVOKED). */
export const DELETE = route('user', async ({ event, co, user }) => {
  await revokeUserLink(co.database.db, user, event.params.id);
  return { revoked: true };
});
