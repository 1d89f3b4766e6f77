import { createSession, verifyPassword } from '$lib/server/auth';
import { body, route } from '$lib/server/http';
import { setChallengeCookie, setSessionCookie } from '$lib/server/cookies';
import * as v from '$lib/server/validate';
import { clientAddress } from '$lib/server/client-address';
import { mustSetUpSecondFactor, startChallenge, userHasTotp } from '$lib/server/second-factor';
import { KofnError } from '@kofn/shared';

/**
 * Password sign-in; attempts are throttled per (e-mail, client address) with growing delays
 * (login-throttle.ts). An account with TOTP gets no session yet: `{ secondFactor: 'totp' }` and a
 * challenge cookie for POST /api/login/second-factor (second-factor.ts). `secondFactorSetup` tells an
 * administrator the policy requires a second factor they do not have yet.
 */
export const POST = route('none', async ({ event, co }) => {
  const b = await body(event);
  if (typeof b.password !== 'string' || b.password.length > 1024) throw new KofnError('INVALID_CREDENTIALS', 'Wrong e-mail or password.');
  const db = co.database.db;
  const user = await verifyPassword(db, v.email(b.email), b.password, clientAddress(event));
  if (await userHasTotp(db, user.id)) {
    setChallengeCookie(event, await startChallenge(db, user));
    return { secondFactor: 'totp' };
  }
  const session = await createSession(db, user);
  setSessionCookie(event, session);
  return { user: session.user, csrfToken: session.csrfToken, secondFactorSetup: await mustSetUpSecondFactor(db, user) };
});
