/**
 * The coordinator's HTTP error boundary: every failure leaves as `{ error: { code, message } }` with a
 * status from one table; unknown errors are logged and answered with a generic 500.
 */
import { json, type RequestEvent } from '@sveltejs/kit';
import type { User } from './auth.js';
import { coordinator, type Coordinator } from './context.js';
import type { Ctx } from './file-access.js';
import { mustSetUpSecondFactor } from './second-factor.js';
import { KofnError, hasErrorCode, readBounded, type ErrorCode } from '@kofn/shared';

const STATUS: Partial<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  INVALID_ARGUMENT: 400,
  WRONG_VALUE: 400,
  INVALID_FILENAME: 400,
  THRESHOLD_TOO_LOW: 400,
  THRESHOLD_TOO_HIGH: 400,
  UNAUTHORIZED: 401,
  INVALID_CREDENTIALS: 401,
  FORBIDDEN: 403,
  CSRF_FAILED: 403,
  LICENSE_LIMIT: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  EPOCH_GONE: 409,
  FILENAME_IN_USE: 409,
  EMAIL_IN_USE: 409,
  SETUP_DONE: 409,
  COMMIT_MISMATCH: 409,
  RELAY_URL_IN_USE: 409,
  ENROLLMENT_INVALID: 401,
  RELAY_SIGNATURE_INVALID: 401,
  ENROLLMENT_REQUIRED: 410,
  PAYLOAD_TOO_LARGE: 413,
  FILE_TOO_BIG: 413,
  RATE_LIMITED: 429,
  STORAGE_FULL: 507,
  RELAYS_OFFLINE: 503,
  UNAVAILABLE: 503,
  // relay transport (shared RelayClient): a relay failed us, not the caller's request
  RELAY_TIMEOUT: 504,
  RELAY_ANSWER_TOO_LARGE: 502,
  RELAY_BAD_ANSWER: 502,
  // share links (share-links.ts)
  LINK_INVALID: 404,
  LINK_EXPIRED: 410,
  LINK_REVOKED: 410,
  LINK_EXHAUSTED: 410,
  LINK_REPLAYED: 409,
  // accounts (accounts.ts, password-policy.ts)
  WEAK_PASSWORD: 400,
  PASSWORD_CHANGE_REQUIRED: 403,
  LAST_ADMIN: 409,
  // passkeys (passkeys.ts)
  PASSKEY_INVALID: 400,
  PASSKEY_REFUSED: 401,
  // second factor (second-factor.ts)
  SECOND_FACTOR_INVALID: 401,
  SECOND_FACTOR_REPLAYED: 401,
  SECOND_FACTOR_EXPIRED: 401,
  SECOND_FACTOR_REQUIRED: 403,
  TOKEN_SCOPE: 403,
  // folders (folders.ts)
  FOLDER_CYCLE: 409,
  FOLDER_TOO_DEEP: 400,
  // multi-level layouts (tree-layouts.ts, shared/src/layout.ts): the request's layout, never the server's fault
  LAYOUT_INVALID: 400,
  LAYOUT_RELAY_TWICE: 400,
  LAYOUT_EMPTY_GROUP: 400,
  LAYOUT_GROUP_THRESHOLD: 400,
  LAYOUT_TOP_THRESHOLD: 400,
  LAYOUT_UNKNOWN_RELAY: 400,
  LAYOUT_NOT_SUPPORTED: 400,
  LAYOUT_UNKNOWN_DEPLOYMENT: 400,
  LAYOUT_ONE_DEPLOYMENT: 400,
  // federation (federation.ts)
  FEDERATION_INVALID: 401,
  FEDERATION_REVOKED: 403,
  FEDERATION_EXPIRED: 403,
  FEDERATION_ORIGIN: 403,
  FEDERATION_REPLAYED: 409,
  FEDERATION_REMOTE_UNREACHABLE: 502,
  FEDERATION_REMOTE_BAD_ANSWER: 502,
  FEDERATION_REMOTE_REFUSED: 502,
  // the owner's verification of a repaired share (repair-verification.ts)
  VERIFICATION_STALE: 409
};

/** Seconds to wait, for errors that carry one (the login throttle's RATE_LIMITED); RFC 9110 §10.2.3. */
function retryAfter(err: object): number | undefined {
  const s = 'retryAfterSeconds' in err ? err.retryAfterSeconds : undefined;
  return typeof s === 'number' && Number.isSafeInteger(s) && s > 0 ? s : undefined;
}

export function errorResponse(err: unknown): Response {
  if (hasErrorCode(err)) {
    const wait = retryAfter(err);
    const headers: Record<string, string> = wait === undefined ? {} : { 'Retry-After': String(wait) };
    return json({ error: { code: err.code, message: err.message } }, { status: STATUS[err.code] ?? 400, headers });
  }
  console.error('coordinator: unhandled error', err instanceof Error ? err.name : typeof err);
  return json({ error: { code: 'INTERNAL', message: 'Internal coordinator error.' } }, { status: 500 });
}

/** Runs a route body and maps thrown errors through `errorResponse`. */
export async function handle(fn: () => Promise<Response>): Promise<Response> {
  try {
    return await fn();
  } catch (err) {
    return errorResponse(err);
  }
}

/** Reads a body of at most `maxBytes`, counting bytes as they arrive (Content-Length may lie). */
export async function readBytes(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && (!/^\d+$/.test(declared) || Number(declared) > maxBytes)) {
    throw new KofnError('PAYLOAD_TOO_LARGE', `Request body over ${maxBytes} bytes.`);
  }
  if (!request.body) throw new KofnError('BAD_REQUEST', 'Expected a JSON body.');
  return readBounded(request.body, maxBytes, () => new KofnError('PAYLOAD_TOO_LARGE', `Request body over ${maxBytes} bytes.`));
}

/** Reads a JSON body of at most `maxBytes`. */
export async function readJson(request: Request, maxBytes: number): Promise<unknown> {
  const bytes = await readBytes(request, maxBytes);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch {
    throw new KofnError('BAD_REQUEST', 'Body is not valid UTF-8 JSON.');
  }
}

/** What an account whose password an administrator set may still do (issue #19: forced change). */
const WHILE_PASSWORD_CHANGE: ReadonlySet<string> = new Set(['/api/account/password', '/api/account/sessions', '/api/session', '/api/logout']);

export interface RouteContext {
  event: RequestEvent;
  co: Coordinator;
  /** Present for 'user' and 'admin' routes. */
  user: User;
  /** The service context for the signed-in user. */
  ctx: Ctx;
}

/**
 * One shape for every API route: authentication level, body limits, error mapping. Returns JSON (or a
 * Response the handler built) with `status`.
 */
export function route(auth: 'none' | 'user' | 'admin', fn: (rc: RouteContext) => Promise<unknown>, status = 200): (event: RequestEvent) => Promise<Response> {
  return (event) =>
    handle(async () => {
      const co = await coordinator();
      const user = event.locals.user;
      if (auth !== 'none' && !user) throw new KofnError('UNAUTHORIZED', 'Please sign in.');
      if (auth === 'admin' && user?.role !== 'admin') throw new KofnError('FORBIDDEN', 'Only administrators may do this.');
      // What an API token may do is checked before any route runs (hooks.server.ts, token-scopes.ts).
      if (auth !== 'none' && user?.mustChangePassword && !(event.route.id !== null && WHILE_PASSWORD_CHANGE.has(event.route.id))) {
        throw new KofnError('PASSWORD_CHANGE_REQUIRED', 'An administrator set your password: choose your own first (Account page).');
      }
      // The administrators' second-factor policy (second-factor.ts): an administrator without one sets it up first.
      if (auth === 'admin' && user && (await mustSetUpSecondFactor(co.database.db, user))) {
        throw new KofnError('SECOND_FACTOR_REQUIRED', 'Administrators must use a second factor: set up two-step sign-in or add a passkey on the Account page first.');
      }
      // A 'none' route gets no user (RouteContext says so); the others were refused above without one.
      const signedIn = user as User;
      const ctx: Ctx = { db: co.database.db, user: signedIn, license: co.license, key: co.signingKey, config: co.config };
      const out = await fn({ event, co, user: signedIn, ctx });
      return out instanceof Response ? out : json(out, { status });
    });
}

/** Request bodies of API routes are small JSON documents. */
export const MAX_API_BODY = 64 * 1024;

/** The JSON object a route was sent, at most `limit` bytes (batch routes allow more: reservations.ts). */
export function body(event: RequestEvent, limit = MAX_API_BODY): Promise<Record<string, unknown>> {
  return readJson(event.request, limit).then((b) => {
    if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new KofnError('BAD_REQUEST', 'Expected a JSON object.');
    return b as Record<string, unknown>;
  });
}
