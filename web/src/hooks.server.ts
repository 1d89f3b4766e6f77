import { json, type Handle, type ServerInit } from '@sveltejs/kit';
import { sequence } from '@sveltejs/kit/hooks';
import { timingSafeEqual } from 'node:crypto';
import { coordinator } from '$lib/server/context';
import { SESSION_COOKIE, proxyUser, sessionUser } from '$lib/server/auth';
import { apiTokenUser } from '$lib/server/api-tokens';
import { checkScope, needOf } from '$lib/server/token-scopes';
import { errorResponse } from '$lib/server/http';
import * as v from '$lib/server/validate';
import { relayOrigins, withConnectSources } from '$lib/server/csp';
import { peerAddress } from '$lib/server/client-address';
import { declaredBytes } from '$lib/server/metrics';
import { FEDERATION_REMOTE_ROUTES } from '$lib/server/federation-http';
import { federationOrigins } from '$lib/server/federation';

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

/** Methods that cannot change state; every other method (POST, PUT, PATCH, DELETE, anything unknown) is checked. */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
/**
 * Route ids (not paths) exempt from the Origin and CSRF checks: relays sign their messages with their
 * own key (relays.ts) and carry no cookies. Keyed by `event.route.id`, which SvelteKit resolves from
 * the decoded path, so `/%61pi/...` and friends meet the same check as `/api/...` (issue #13, item 5).
 * Add relay routes under `/api/relays/` here as they appear.
 */
const CSRF_EXEMPT_ROUTES: ReadonlySet<string> = new Set(['/api/relays/announce', '/api/relays/enroll', '/api/relays/heartbeat', '/api/relays/scrub']);

function sameToken(a: string | null, b: string): boolean {
  if (a?.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** What a bearer header may carry before it is even looked at: the secret is 52 characters. */
const MAX_AUTHORIZATION = 256;

function csrfError() {
  return json({ error: { code: 'CSRF_FAILED', message: 'The request did not come from this site.' } }, { status: 403 });
}

/** The Prometheus scrape route (routes/metrics): its bearer header is the scrape token, not an API token. */
const METRICS_ROUTE = '/metrics';

/** Counts and times every answer, early refusals included, by route id (metrics.ts). */
const observe: Handle = async ({ event, resolve }) => {
  const t0 = performance.now();
  const response = await resolve(event);
  const { metrics } = await coordinator();
  metrics.observeRequest({
    route: event.route.id,
    method: event.request.method,
    status: response.status,
    seconds: (performance.now() - t0) / 1000,
    requestBytes: declaredBytes(event.request.headers.get('content-length')),
    responseBytes: declaredBytes(response.headers.get('content-length'))
  });
  return response;
};

const authenticate: Handle = async ({ event, resolve }) => {
  const { config, database, license } = await coordinator();
  event.locals.user = undefined;
  event.locals.csrfToken = undefined;
  event.locals.sessionToken = undefined;
  event.locals.viaApiToken = false;
  event.locals.tokenScopes = [];

  // A personal API token (api-tokens.ts). A request that presents one is judged by it alone: a bad token
  // is refused outright rather than falling back to a cookie, so a script never acts by accident as
  // whoever is signed in to a browser on the same machine.
  // Relay routes are not user routes: relays prove themselves by signature (relays.ts), and whatever an
  // Authorization header says there is not an API token.
  // Federation's remote routes likewise: a browser's signature or a link token (federation.ts), never an API token.
  const relayRoute = event.route.id !== null && (CSRF_EXEMPT_ROUTES.has(event.route.id) || FEDERATION_REMOTE_ROUTES.has(event.route.id));
  const authorization = relayRoute || event.route.id === METRICS_ROUTE ? null : event.request.headers.get('authorization');
  if (authorization !== null) {
    const m = authorization.length <= MAX_AUTHORIZATION ? /^Bearer ([!-~]+)$/i.exec(authorization) : null;
    const found = m ? await apiTokenUser(database.db, m[1]!) : undefined;
    if (!found) {
      return json(
        { error: { code: 'UNAUTHORIZED', message: 'The API token is not valid: it is mistyped, revoked or expired, or its account is disabled.' } },
        { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="kofn", error="invalid_token"', 'Cache-Control': 'no-store' } }
      );
    }
    const { scopes, ...user } = found;
    // The token's scopes against the route's need, before anything runs (token-scopes.ts: deny by default).
    try {
      checkScope(scopes, needOf(event.route.id, event.url.pathname, event.request.method));
    } catch (err) {
      return errorResponse(err);
    }
    event.locals.user = user;
    event.locals.viaApiToken = true;
    event.locals.tokenScopes = scopes;
  }

  // Trusted reverse-proxy mode: only from configured proxy addresses, and only when configured.
  const remoteEmail = event.request.headers.get('remote-email');
  // The socket peer, not getClientAddress(): with ADDRESS_HEADER set that is the forwarded header's claim.
  if (!event.locals.viaApiToken && config.trustedProxies.length > 0 && remoteEmail && config.trustedProxies.includes(peerAddress(event))) {
    try {
      event.locals.user = await proxyUser(database.db, v.email(remoteEmail, 'Remote-Email'), event.request.headers.get('remote-name') ?? undefined, license.limits.users);
    } catch {
      event.locals.user = undefined;
    }
  }
  if (!event.locals.user && !event.locals.viaApiToken) {
    const token = event.cookies.get(SESSION_COOKIE);
    const session = await sessionUser(database.db, token);
    if (session) {
      event.locals.user = session.user;
      event.locals.csrfToken = session.csrfToken;
      event.locals.sessionToken = token;
    }
  }

  const routeId = event.route.id;
  // Every unsafe request is checked: API routes, pages and their form actions, and paths no route matches
  // (route id null), so nothing reaches a handler through an encoding the check did not foresee.
  // Bearer requests are exempt too: CSRF rides on credentials a browser attaches by itself (cookies); a
  // browser never adds an Authorization header to a cross-site request, and a page that sets one itself
  // needs a CORS preflight this server never grants (OWASP CSRF Prevention Cheat Sheet).
  // Federation's remote routes carry no cookies (a cross-site request without credentials) and are signed.
  if (!SAFE.has(event.request.method) && !event.locals.viaApiToken && !(routeId !== null && (CSRF_EXEMPT_ROUTES.has(routeId) || FEDERATION_REMOTE_ROUTES.has(routeId)))) {
    // Origin must be this site; cookie sessions must also echo their CSRF token (double submit).
    if (event.request.headers.get('origin') !== event.url.origin) return csrfError();
    if (event.locals.csrfToken && !sameToken(event.request.headers.get('x-csrf-token'), event.locals.csrfToken)) return csrfError();
  }

  const response = await resolve(event);
  // Pages carry SvelteKit's CSP header; their connect-src gains the registered relays' origins (csp.ts).
  const policy = response.headers.get('content-security-policy');
  if (policy) response.headers.set('content-security-policy', withConnectSources(policy, [...new Set([...(await relayOrigins(database.db)), ...(await federationOrigins(database.db))])]));
  response.headers.set('X-Content-Type-Options', 'nosniff');
  response.headers.set('Referrer-Policy', 'no-referrer');
  response.headers.set('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  if (routeId?.startsWith('/api/') || event.url.pathname.startsWith('/api/')) response.headers.set('Cache-Control', 'no-store');
  return response;
};

export const handle = sequence(observe, authenticate);
