import { json, type Handle, type ServerInit } from '@sveltejs/kit';
import { timingSafeEqual } from 'node:crypto';
import { coordinator } from '$lib/server/context';
import { SESSION_COOKIE, proxyUser, sessionUser } from '$lib/server/auth';
import * as v from '$lib/server/validate';

// Open the database, apply migrations and start the job scheduler before the first request.
export const init: ServerInit = async () => {
  const { database, jobs } = await coordinator();
  jobs.start();
  // adapter-node emits this after SIGINT/SIGTERM once requests have drained: stop jobs, flush PGlite.
  process.once('sveltekit:shutdown', () => {
    jobs.stop();
    void database.close();
  });
};

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Routes that authenticate otherwise (relays sign their messages with their own key) and carry no cookies. */
const CSRF_EXEMPT = new Set(['/api/relays/announce', '/api/relays/enroll', '/api/relays/heartbeat']);

function sameToken(a: string | null, b: string): boolean {
  if (!a || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function csrfError() {
  return json({ error: { code: 'CSRF_FAILED', message: 'The request did not come from this site.' } }, { status: 403 });
}

export const handle: Handle = async ({ event, resolve }) => {
  const { config, database, license } = await coordinator();
  event.locals.user = undefined;
  event.locals.csrfToken = undefined;
  event.locals.sessionToken = undefined;

  // Trusted reverse-proxy mode: only from configured proxy addresses, and only when configured.
  const remoteEmail = event.request.headers.get('remote-email');
  if (config.trustedProxies.length > 0 && remoteEmail && config.trustedProxies.includes(event.getClientAddress())) {
    try {
      event.locals.user = await proxyUser(database.db, v.email(remoteEmail, 'Remote-Email'), event.request.headers.get('remote-name') ?? undefined, license.limits.users);
    } catch {
      event.locals.user = undefined;
    }
  }
  if (!event.locals.user) {
    const token = event.cookies.get(SESSION_COOKIE);
    const session = await sessionUser(database.db, token);
    if (session) {
      event.locals.user = session.user;
      event.locals.csrfToken = session.csrfToken;
      event.locals.sessionToken = token;
    }
  }

  const path = event.url.pathname;
  if (UNSAFE.has(event.request.method) && path.startsWith('/api/') && !CSRF_EXEMPT.has(path)) {
    // Origin must be this site; cookie sessions must also echo their CSRF token (double submit).
    if (event.request.headers.get('origin') !== event.url.origin) return csrfError();
    if (event.locals.csrfToken && !sameToken(event.request.headers.get('x-csrf-token'), event.locals.csrfToken)) return csrfError();
  }

  const response = await resolve(event);
  response.headers.set('X-Content-Type-Options', 'nosniff');
  response.headers.set('Referrer-Policy', 'no-referrer');
  response.headers.set('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  if (path.startsWith('/api/')) response.headers.set('Cache-Control', 'no-store');
  return response;
};
