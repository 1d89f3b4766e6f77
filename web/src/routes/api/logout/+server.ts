import { logout } from '$lib/server/auth';
import { route } from '$lib/server/http';
import { clearSessionCookie } from '$lib/server/cookies';

export const POST = route('user', async ({ event, co }) => {
  await logout(co.database.db, event.locals.sessionToken);
  clearSessionCookie(event);
  return { signedOut: true };
});
