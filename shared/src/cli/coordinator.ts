/**
 * The coordinator's JSON API (web/docs/api.md) from Node: the session cookie and CSRF token of `kofn
 * login`, `Origin` set to the coordinator's own origin (its CSRF check, api.md "Authentication"), every
 * answer bounded in time and size, and errors as KofnError with the coordinator's stable code.
 */
import { readBounded } from '../protocol/bounded-read.js';
import { delay } from '../protocol/delay.js';
import { ERROR_CODES, KofnError, type ErrorCode } from '../errors.js';
import { FILE_ID_HEX } from '../ids.js';

/** 60 s to a whole answer: the slowest call, commit, lists every relay's chunks, each under a 20 s bound. */
export const COORDINATOR_TIMEOUT_MS = 60_000;
/**
 * Largest answer read: the file list is the biggest (api.md "FileView": about 600 bytes per file with 5
 * relays; 10,000 files is 6 MB). 32 MiB leaves room and still bounds a hostile or broken server.
 */
export const MAX_COORDINATOR_ANSWER = 32 * 1024 * 1024;

const known = new Set<string>(ERROR_CODES);

export interface Credentials {
  cookie?: string;
  csrfToken?: string;
  /** A personal API token: sent as `Authorization: Bearer`, and then no cookie is sent (api.md "Authentication"). */
  token?: string;
}

export class Coordinator {
  readonly origin: string;
  constructor(
    url: string,
    private readonly creds: Credentials = {},
    private readonly signal?: AbortSignal,
    private readonly folderId?: string
  ) {
    this.origin = coordinatorOrigin(url);
  }

  /** The same session, for calls that must run even after the user cancelled (removing a reservation). */
  withoutSignal(): Coordinator {
    return new Coordinator(this.origin, this.creds, undefined, this.folderId);
  }

  /**
   * The same session, reserving new files in folder `folderId` (`kofn protect --to`, issue #18). Added to
   * the reservation bodies here, at the edge, so the protect flows (protect.ts, protect-many.ts) need not
   * know about folders.
   */
  into(folderId: string): Coordinator {
    return new Coordinator(this.origin, this.creds, this.signal, folderId);
  }

  /** A reservation body with this session's folder (POST /api/files, and each item of /api/files/batch). */
  #placed(method: string, path: string, body: unknown): unknown {
    if (!this.folderId || method !== 'POST' || typeof body !== 'object' || body === null) return body;
    if (path === '/api/files') return { ...body, folderId: this.folderId };
    const items = (body as { files?: unknown }).files;
    if (path === '/api/files/batch' && Array.isArray(items)) return { ...body, files: items.map((f: unknown) => (typeof f === 'object' && f !== null ? { ...f, folderId: this.folderId } : f)) };
    return body;
  }

  async call<T>(method: 'GET' | 'POST' | 'DELETE' | 'PATCH', path: string, body?: unknown): Promise<T> {
    const { data } = await this.raw(method, path, body);
    return data as T;
  }

  /**
   * The answer with its headers (login reads Set-Cookie). A request that may be sent twice (`retrySafe`) is
   * sent again, at most GATEWAY_RETRY_DELAYS_MS.length times, when what came back is a gateway's failure
   * rather than the coordinator's answer: the connection failed, or 502/503/504 without a kofn error code.
   * Behind a load balancer that is one coordinator dying with the request on it (nginx answers 502 and,
   * for a POST, does not try the next upstream: `proxy_next_upstream` "non_idempotent" is off by default);
   * the next attempt reaches another coordinator. Seen in CI: `kofn protect` failed when a coordinator
   * was killed mid-upload (e2e/tests/ops-two-coordinators.spec.ts).
   */
  async raw(method: string, path: string, sent?: unknown): Promise<{ data: unknown; headers: Headers }> {
    const retries = retrySafe(method, path) ? GATEWAY_RETRY_DELAYS_MS : [];
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#once(method, path, sent);
      } catch (err) {
        const wait = retries[attempt];
        if (wait === undefined || !gatewayFailures.has(err as object) || this.signal?.aborted) throw err;
        await delay(wait, this.signal);
      }
    }
  }

  async #once(method: string, path: string, sent?: unknown): Promise<{ data: unknown; headers: Headers }> {
    const body = this.#placed(method, path, sent);
    const headers: Record<string, string> = { origin: this.origin, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.creds.token) headers.authorization = `Bearer ${this.creds.token}`;
    else if (this.creds.cookie) headers.cookie = `kofn_session=${this.creds.cookie}`;
    if (method !== 'GET' && !this.creds.token && this.creds.csrfToken) headers['x-csrf-token'] = this.creds.csrfToken;
    const timeout = AbortSignal.timeout(COORDINATOR_TIMEOUT_MS);
    const signal = this.signal ? AbortSignal.any([this.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await fetch(`${this.origin}${path}`, { method, headers, redirect: 'error', signal, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (err) {
      if (this.signal?.aborted) throw this.signal.reason;
      const why = timeout.aborted ? `did not answer within ${COORDINATOR_TIMEOUT_MS / 1000} s` : 'is not reachable';
      const error = new KofnError('COORDINATOR_UNREACHABLE', `The kofn server at ${this.origin} ${why}.`, { cause: err });
      // A minute without an answer is not tried again: the caller's own deadline would be past.
      if (!timeout.aborted) gatewayFailures.add(error);
      throw error;
    }
    let data: unknown;
    try {
      data = await readJson(res);
    } catch (err) {
      if (this.signal?.aborted) throw this.signal.reason;
      throw err instanceof KofnError ? err : new KofnError('COORDINATOR_UNREACHABLE', `The kofn server at ${this.origin} stopped answering.`, { cause: err });
    }
    if (!res.ok) {
      const e = (data as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      let code: ErrorCode = res.status === 401 ? 'UNAUTHORIZED' : res.status === 404 ? 'NOT_FOUND' : 'UNAVAILABLE';
      const coded = typeof e?.code === 'string' && known.has(e.code);
      if (coded) code = e.code as ErrorCode;
      const message = typeof e?.message === 'string' && e.message ? e.message : `The kofn server answered ${res.status}.`;
      if (code === 'UNAUTHORIZED') {
        throw new KofnError('NOT_SIGNED_IN', this.creds.token ? `${message} Run \`kofn login --token-stdin\` with a valid token.` : 'Your session has ended: run `kofn login` again.');
      }
      const error = new KofnError(code, message);
      if (!coded && GATEWAY_STATUSES.has(res.status)) gatewayFailures.add(error);
      throw error;
    }
    return { data, headers: res.headers };
  }
}

/** A load balancer's own failures: its upstream died, is restarting, or did not answer (RFC 9110 15.6.3-5). */
const GATEWAY_STATUSES = new Set([502, 503, 504]);

/** Waits before each new attempt of a retry-safe request: two more attempts, about a second in all. */
export const GATEWAY_RETRY_DELAYS_MS = [200, 800];

/**
 * Requests that change nothing when sent twice: reads, minting fresh tokens (the earlier ones stay valid
 * until they expire), and a commit (a second commit of a committed file answers NOT_FOUND, which
 * `commitFile` in protect.ts resolves by reading the manifest). Creating reservations, grants or links is
 * not: sent twice, it would be done twice.
 */
const RETRY_SAFE_POST = new RegExp(`^/api/files/${FILE_ID_HEX}/(?:tokens|commit)$`);
export function retrySafe(method: string, path: string): boolean {
  if (method === 'GET') return true;
  return method === 'POST' && RETRY_SAFE_POST.test(path);
}

/** The errors `raw` may try again after: a gateway's failure, not the coordinator's answer. */
const gatewayFailures = new WeakSet<object>();

/** The coordinator's origin from what the user typed (`kofn.example.org`, `http://127.0.0.1:8080/`). */
export function coordinatorOrigin(url: string): string {
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `https://${url}`);
  } catch {
    throw new KofnError('CLI_USAGE', `Not a server address: ${url}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new KofnError('CLI_USAGE', `Not an http(s) address: ${url}`);
  return u.origin;
}

async function readJson(res: Response): Promise<unknown> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > MAX_COORDINATOR_ANSWER) throw tooLarge();
  const bytes = await readBounded(res.body, MAX_COORDINATOR_ANSWER, tooLarge);
  if (bytes.length === 0) return undefined;
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(text);
  } catch {
    // A proxy's HTML error page, say: not something to show as-is.
    return undefined;
  }
}

function tooLarge(): KofnError {
  return new KofnError('COORDINATOR_UNREACHABLE', `The kofn server sent an answer larger than ${MAX_COORDINATOR_ANSWER} bytes.`);
}
