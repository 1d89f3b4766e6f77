/**
 * The HTTP edge of federation (federation.ts), framework-free (a fetch Request in, a Response out) so the
 * SvelteKit routes under routes/api/federation/remote and the two-coordinator tests serve the same code.
 *
 * CORS (Fetch standard §3.2): the signed routes answer with `Access-Control-Allow-Origin` set to the
 * request's origin only when a link was issued for that origin, so a linked deployment's page can read
 * X's answers (errors included: a revoked link must show as revoked) and no other site can. No
 * credentials mode: the routes authenticate by signature, never by X's cookies.
 */
import { json } from '@sveltejs/kit';
import { FEDERATION_HEADER, KofnError } from '@kofn/shared';
import type { Db } from './db/index.js';
import type { User } from './auth.js';
import type { Ctx } from './file-access.js';
import { errorResponse, readBytes } from './http.js';
import { MAX_FEDERATED_BODY, authenticateFederated, isLinkedOrigin, remoteInfo, type Federated } from './federation.js';
import type { CoordinatorConfig } from './config.js';

/** Route ids of the federation routes that are not user routes: no cookie session, no CSRF token, no API token (hooks.server.ts). */
export const FEDERATION_REMOTE_ROUTES: ReadonlySet<string> = new Set([
  '/api/federation/remote/info',
  '/api/federation/remote/session',
  '/api/federation/remote/files',
  '/api/federation/remote/files/[id]',
  '/api/federation/remote/files/[id]/tokens',
  '/api/federation/remote/files/[id]/commit'
]);

const ALLOWED_METHODS = 'GET, POST, DELETE';
const ALLOWED_HEADERS = `content-type, ${FEDERATION_HEADER}`;

async function withCors(db: Db, request: Request, response: Response): Promise<Response> {
  const origin = request.headers.get('origin');
  response.headers.append('Vary', 'Origin');
  if (origin !== null && (await isLinkedOrigin(db, origin))) response.headers.set('Access-Control-Allow-Origin', origin);
  response.headers.set('Cache-Control', 'no-store');
  return response;
}

/** The answer to a CORS preflight of a signed route. */
export async function federatedPreflight(db: Db, request: Request): Promise<Response> {
  const response = new Response(null, { status: 204 });
  response.headers.set('Access-Control-Allow-Methods', ALLOWED_METHODS);
  response.headers.set('Access-Control-Allow-Headers', ALLOWED_HEADERS);
  response.headers.set('Access-Control-Max-Age', '600');
  return withCors(db, request, response);
}

export interface FederatedDeps {
  db: Db;
  /** The service context acting as `user` at this deployment. */
  ctxFor: (user: User) => Ctx;
  now?: () => Date;
}

/**
 * Runs `fn` for a signed request: body read (at most MAX_FEDERATED_BODY bytes) and signed over as sent,
 * signature, origin, link state and replay checked (federation.ts authenticateFederated), errors mapped as
 * every API route's are.
 */
export async function federatedResponse(deps: FederatedDeps, request: Request, fn: (ctx: Ctx, f: Federated, body: Record<string, unknown>) => Promise<unknown>, status = 200): Promise<Response> {
  let response: Response;
  try {
    const bytes = request.method === 'GET' || request.method === 'HEAD' || request.body === null ? new Uint8Array(0) : await readBytes(request, MAX_FEDERATED_BODY);
    const now = deps.now?.() ?? new Date();
    const f = await authenticateFederated(
      deps.db,
      { method: request.method, path: new URL(request.url).pathname, origin: request.headers.get('origin'), header: request.headers.get(FEDERATION_HEADER), body: bytes },
      now
    );
    let body: Record<string, unknown> = {};
    if (bytes.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      } catch {
        throw new KofnError('BAD_REQUEST', 'Body is not valid UTF-8 JSON.');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new KofnError('BAD_REQUEST', 'Expected a JSON object.');
      body = parsed as Record<string, unknown>;
    }
    response = json(await fn(deps.ctxFor(f.user), f, body), { status });
  } catch (err) {
    response = errorResponse(err);
  }
  return withCors(deps.db, request, response);
}

/** GET /api/federation/remote/info: a linked deployment's server asks with its link token (no CORS: server to server). */
export async function infoResponse(db: Db, config: CoordinatorConfig, request: Request, name: string, now = new Date()): Promise<Response> {
  try {
    const response = json(await remoteInfo(db, config, request.headers.get('authorization'), name, now));
    response.headers.set('Cache-Control', 'no-store');
    return response;
  } catch (err) {
    return errorResponse(err);
  }
}
