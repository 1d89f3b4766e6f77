import { json } from '@sveltejs/kit';
import { countUsers, createSession, setupAdmin } from '$lib/server/auth';
import { body, route } from '$lib/server/http';
import { setSessionCookie } from '$lib/server/cookies';
import * as v from '$lib/server/validate';

/** Whether first-run setup is still needed. */
export const GET = route('none', async ({ co }) => ({ needed: (await countUsers(co.database.db)) === 0 }));

/** First run: creates the administrator and signs them in. */
export const POST = route('none', async ({ event, co }) => {
  const b = await body(event);
  const user = await setupAdmin(co.database.db, { email: v.email(b.email), displayName: v.text(b.displayName, 'displayName', 100), password: v.password(b.password) }, co.license.limits.users);
  const session = await createSession(co.database.db, user);
  setSessionCookie(event, session);
  return json({ user, csrfToken: session.csrfToken }, { status: 201 });
});
