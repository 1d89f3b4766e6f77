import { login } from '$lib/server/auth';
import { body, route } from '$lib/server/http';
import { setSessionCookie } from '$lib/server/cookies';
import * as v from '$lib/server/validate';
import { clientAddress } from '$lib/server/client-address';
import { KofnError } from '@kofn/shared';

/** Password sign-in; attempts are throttled per (e-mail, client address) with growing delays (login-throttle.ts). */
export const POST = route('none', async ({ event, co }) => {
  const b = await body(event);
  if (typeof b.password !== 'string' || b.password.length > 1024) throw new KofnError('INVALID_CREDENTIALS', 'Wrong e-mail or password.');
  const session = await login(co.database.db, v.email(b.email), b.password, clientAddress(event));
  setSessionCookie(event, session);
  return { user: session.user, csrfToken: session.csrfToken };
});
