import { body, route } from '$lib/server/http';
import { setSessionCookie } from '$lib/server/cookies';
import { passkeyLogin, relyingParty } from '$lib/server/passkeys';

/** `{ response }`: a passkey assertion; on success a session like a password sign-in's (cookie and CSRF token). */
export const POST = route('none', async ({ event, co }) => {
  const session = await passkeyLogin(co.database.db, relyingParty(event.url), await body(event));
  setSessionCookie(event, session);
  return { user: session.user, csrfToken: session.csrfToken };
});
