/**
 * Scopes of personal API tokens (issue #19): what a token may do, chosen when it is made, checked on every
 * request that presents one (hooks.server.ts) against one table of every API route and method. Modelled
 * on GitHub's fine-grained tokens and OAuth 2.0 scopes (RFC 6749 §3.3): a token holds a set of scopes; a
 * route needs one; anything the table does not name is refused (deny by default), so a new route cannot
 * become reachable by every token by being forgotten here (token-scopes.test.ts fails on any route of
 * `src/routes/api` missing from the table).
 *
 * - `read`: list, inspect and retrieve files (read tokens, manifests), history, usage, shares.
 * - `write`: protect (reserve, upload tokens, commit), remove, renew, replace a relay.
 * - `share`: grant and revoke reading to other accounts; make, edit and revoke share links.
 * - `admin`: administrators' routes; only an administrator can make such a token, and the route still
 *   needs the account to be an administrator when it is used (http.ts), so a demoted admin's token stops.
 *
 * Two kinds of route need no scope: `any` (public routes, and `GET /api/session`, which a script uses to
 * learn whom its token acts for), and `session`: credentials (tokens, password, sessions, sign-out, passkeys, two-step sign-in and its policy), which
 * no token may manage, so a leaked token can neither mint successors nor lock its owner out.
 */
import { KofnError } from '@kofn/shared';

export const SCOPES = ['read', 'write', 'share', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
export type Need = Scope | 'any' | 'session';
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a token made without a choice holds (the Account page always sends a choice). */
export const DEFAULT_SCOPES: readonly Scope[] = ['read', 'write'];

/**
 * Every API route and method, by SvelteKit route id. `POST /api/files/[id]/tokens` needs `read` here and
 * `write` as well for any op but `get` (capabilities route: upload, list and delete tokens are writes).
 * Relay routes (announce, enroll, heartbeat, scrub) are signed by relays and never read a bearer token.
 */
export const ROUTE_SCOPES: Readonly<Record<string, Partial<Record<Method, Need>>>> = {
  '/api/account/password': { POST: 'session' },
  '/api/account/sessions': { GET: 'session', DELETE: 'session' },
  '/api/account/totp': { GET: 'session', POST: 'session' },
  '/api/account/totp/disable': { POST: 'session' },
  '/api/account/totp/enable': { POST: 'session' },
  '/api/account/totp/recovery-codes': { POST: 'session' },
  '/api/configuration': { GET: 'any' },
  '/api/federation/links': { GET: 'admin', POST: 'admin' },
  '/api/federation/links/[handle]': { DELETE: 'admin' },
  // Signed by a browser key or carrying a link token (federation.ts); never read a personal API token.
  '/api/federation/remote/files': { POST: 'any' },
  '/api/federation/remote/files/[id]': { GET: 'any', DELETE: 'any' },
  '/api/federation/remote/files/[id]/commit': { POST: 'any' },
  '/api/federation/remote/files/[id]/tokens': { POST: 'any' },
  '/api/federation/remote/info': { GET: 'any' },
  '/api/federation/remote/session': { GET: 'any' },
  // Only a browser linked at the other deployment can act on these; an API token has no use for them.
  '/api/federation/removals': { GET: 'session', POST: 'session' },
  '/api/federation/remotes': { GET: 'read', POST: 'admin' },
  '/api/federation/remotes/[id]': { DELETE: 'admin' },
  '/api/federation/remotes/[id]/refresh': { POST: 'admin' },
  // Binding a browser key to an account is a credential: only a signed-in person does it, at this site.
  '/api/federation/user-links': { GET: 'session', POST: 'session' },
  '/api/federation/user-links/[id]': { DELETE: 'session' },
  '/api/files': { GET: 'read', POST: 'write' },
  '/api/files/[id]': { PATCH: 'write', DELETE: 'write' },
  '/api/files/[id]/commit': { POST: 'write' },
  '/api/files/[id]/health': { GET: 'read', POST: 'read' },
  '/api/files/[id]/manifest': { GET: 'read' },
  '/api/files/[id]/renew': { POST: 'write' },
  '/api/files/[id]/replace-relay': { POST: 'write' },
  '/api/files/[id]/retrievals': { POST: 'read' },
  '/api/files/[id]/tokens': { POST: 'read' },
  // Only the owner's browser authenticates a repaired share (repair-verification.ts); no token needs these.
  '/api/files/[id]/verification': { POST: 'session' },
  '/api/files/batch': { POST: 'write' },
  '/api/files/commit': { POST: 'write' },
  '/api/files/health': { GET: 'admin' },
  '/api/files/verification': { GET: 'session' },
  '/api/folders': { GET: 'read', POST: 'write' },
  '/api/folders/[id]': { PATCH: 'write', DELETE: 'write' },
  '/api/folders/bulk': { POST: 'write' },
  '/api/grants': { POST: 'share' },
  '/api/health': { GET: 'any' },
  '/api/health/live': { GET: 'any' },
  '/api/health/ready': { GET: 'any' },
  '/api/history': { GET: 'read' },
  '/api/jobs': { GET: 'admin' },
  '/api/jwks': { GET: 'any' },
  '/api/license': { GET: 'admin' },
  '/api/links': { GET: 'share', POST: 'share' },
  '/api/links/[id]': { PATCH: 'share', DELETE: 'share' },
  '/api/links/[id]/open': { POST: 'any' },
  '/api/links/[id]/tokens': { POST: 'any' },
  '/api/login': { POST: 'any' },
  '/api/login/second-factor': { POST: 'any' },
  '/api/logout': { POST: 'session' },
  '/api/passkeys': { GET: 'session' },
  '/api/passkeys/[id]': { PATCH: 'session', DELETE: 'session' },
  '/api/passkeys/login': { POST: 'any' },
  '/api/passkeys/login/options': { POST: 'any' },
  '/api/passkeys/register': { POST: 'session' },
  '/api/passkeys/register/options': { POST: 'session' },
  '/api/preview-limit': { GET: 'read', POST: 'admin' },
  '/api/relays': { GET: 'admin' },
  '/api/relays/[id]': { PATCH: 'admin' },
  '/api/relays/[id]/drain': { POST: 'admin' },
  '/api/relays/[id]/lost': { POST: 'admin' },
  '/api/relays/[id]/replace': { POST: 'admin' },
  '/api/relays/[id]/retire': { POST: 'admin' },
  '/api/relays/announce': { POST: 'any' },
  '/api/relays/enroll': { POST: 'any' },
  '/api/relays/enrollments': { GET: 'admin', POST: 'admin' },
  '/api/relays/enrollments/[id]': { DELETE: 'admin' },
  '/api/relays/heartbeat': { POST: 'any' },
  '/api/relays/scrub': { POST: 'any' },
  '/api/renewals': { POST: 'admin' },
  '/api/security-policy': { GET: 'session', POST: 'session' },
  '/api/session': { GET: 'any' },
  '/api/setup': { GET: 'any', POST: 'any' },
  '/api/shared/by-me': { GET: 'read' },
  '/api/shared/with-me': { GET: 'read' },
  '/api/storage': { GET: 'read' },
  '/api/tokens': { GET: 'session', POST: 'session' },
  '/api/tokens/[handle]': { DELETE: 'session' },
  '/api/trash': { GET: 'read', DELETE: 'write' },
  '/api/trash/restore': { POST: 'write' },
  '/api/usage': { GET: 'read' },
  '/api/users': { GET: 'admin', POST: 'admin' },
  '/api/users/[id]': { PATCH: 'admin', DELETE: 'admin' },
  '/api/users/[id]/second-factor': { DELETE: 'session' }
};

/**
 * The scope a request needs. Pages (not `/api/`) only ever read (GET loads; no form actions), so `read`;
 * an API path no route matches needs `any` (it answers 404 either way); HEAD is GET (SvelteKit).
 */
export function needOf(routeId: string | null, pathname: string, method: string): Need | undefined {
  if (!pathname.startsWith('/api/')) return 'read';
  if (routeId === null) return 'any';
  const m = (method === 'HEAD' ? 'GET' : method) as Method;
  return ROUTE_SCOPES[routeId]?.[m];
}

export class TokenScopeError extends KofnError {
  constructor(message: string) {
    super('TOKEN_SCOPE', message);
  }
}

/** Throws unless `held` satisfies `need` (undefined: a route or method the table does not know). */
export function checkScope(held: readonly Scope[], need: Need | undefined): void {
  if (need === 'any') return;
  if (need === 'session') throw new KofnError('FORBIDDEN', 'An API token cannot manage credentials: sign in with your password to do this.');
  if (need === undefined) throw new TokenScopeError('API tokens cannot use this route.');
  if (!held.includes(need)) throw new TokenScopeError(`This API token lacks the "${need}" scope (it has: ${held.join(', ') || 'none'}); make a token with it on the Account page.`);
}

/**
 * The scopes asked for at creation: a non-empty list of known scopes without repeats; `admin` only for an
 * administrator (it could not be used otherwise, and must not wait for a promotion to come alive).
 */
export function parseScopes(raw: unknown, role: 'admin' | 'user'): Scope[] {
  if (raw === undefined) return [...DEFAULT_SCOPES];
  if (
    !Array.isArray(raw) ||
    raw.length === 0 ||
    raw.length > SCOPES.length ||
    !raw.every((s): s is Scope => typeof s === 'string' && (SCOPES as readonly string[]).includes(s)) ||
    new Set(raw).size !== raw.length
  ) {
    throw new KofnError('WRONG_VALUE', `A token needs one or more scopes of: ${SCOPES.join(', ')}.`);
  }
  if (raw.includes('admin') && role !== 'admin') throw new KofnError('FORBIDDEN', 'Only administrators can make a token with the admin scope.');
  // Stored in the table's order, so lists and comparisons do not depend on the order they were ticked in.
  return SCOPES.filter((s) => raw.includes(s));
}
