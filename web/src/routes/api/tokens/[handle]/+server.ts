import { route } from '$lib/server/http';
import { revokeApiToken } from '$lib/server/api-tokens';

/** Revokes one of the user's tokens; requests carrying it are refused from now on. */
export const DELETE = route('user', async ({ event, co, user }) => {
  await revokeApiToken(co.database.db, user, event.params.handle);
  return { revoked: true };
});
