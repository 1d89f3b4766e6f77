import { createSession } from '$lib/server/auth';
import { body, route } from '$lib/server/http';
import { clearChallengeCookie, setSessionCookie } from '$lib/server/cookies';
import { clientAddress } from '$lib/server/client-address';
import { CHALLENGE_COOKIE, completeChallenge, mustSetUpSecondFactor } from '$lib/server/second-factor';
import { secretKey } from '$lib/server/secret-key';

/**
 * The second step of sign-in: `{ code }` (a TOTP code or a recovery code) with the challenge cookie set by
 * POST /api/login. Wrong codes are throttled and end the challenge after a few (second-factor.ts).
 */
export const POST = route('none', async ({ event, co }) => {
  const db = co.database.db;
  const b = await body(event, 1024);
  try {
    const { user, method } = await completeChallenge(db, await secretKey(), event.cookies.get(CHALLENGE_COOKIE), b, clientAddress(event));
    clearChallengeCookie(event);
    const session = await createSession(db, user);
    setSessionCookie(event, session);
    return { user: session.user, csrfToken: session.csrfToken, method, secondFactorSetup: await mustSetUpSecondFactor(db, user) };
  } catch (err) {
    if ((err as { code?: string }).code === 'SECOND_FACTOR_EXPIRED') clearChallengeCookie(event);
    throw err;
  }
});
