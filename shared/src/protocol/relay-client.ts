/**
 * The one client of the relay protocol (issue #14), used by the browser's share workers and resume, the
 * coordinator and test helpers. It runs wherever plain `fetch` and web streams do (a Web Worker, Node 20).
 *
 * Threat model (ARCHITECTURE.md, Transport): any relay may be hostile and the network too, so every
 * request is bounded in time and every answer in size (issue #13 items 3, 4, 6):
 *   - until the answer's headers arrive: `headersMs` (GET, HEAD, DELETE, list) or `putHeadersMs` (PUT,
 *     whose time to headers includes sending the body: fetch does not say when the upload ended);
 *   - while a body streams: `idleMs` without a single byte ends the request;
 *   - every attempt: `totalMs` whatever the progress;
 *   - bodies: a share chunk is read into at most the bytes a share chunk of that file can have, JSON answers
 *     into a small fixed bound; one byte more cancels the read (and the connection).
 * Network errors, 5xx and 429 are retried a few times with backoff (a 429/503's Retry-After is honoured up
 * to a cap); timeouts are not: a relay that stalled once is replaced by the caller (retrieval fails over
 * to a spare) rather than waited for again. A token with little life left is renewed through the token
 * callback before the request (token-expiry.ts), and a 401 TOKEN_EXPIRED asks it for a fresh token once. Every failure is a KofnError whose `details` carry the relay's id and name.
 *
 * Cost on the hot path: per request one AbortController and two timers; progress while reading only
 * stores a timestamp (the idle timer re-arms itself from it when it fires), so a 1 MiB body read in
 * 16 pieces touches no timer. Measured in Node 20 over loopback (3 rounds of 400 1 MiB BYOB GETs into one
 * reused buffer, server in the same process): 2.92-3.21 ms of CPU per GET with the browser's previous
 * transport (no timeouts), 2.91-2.97 ms with this client.
 */
import { readBounded } from './bounded-read.js';
import type { ConnectionSlots } from './connection-slots.js';
import { processTokenClock, type TokenClock } from './token-expiry.js';
import { ERROR_CODES, KofnError, type ErrorCode, type ErrorDetails } from '../errors.js';
import { MAX_TOKEN_BYTES, type TokenOp } from '../token-claims.js';
import { delay } from './delay.js';

export interface RelayRef {
  id: string;
  name: string;
  url: string;
}

export interface RelayTimeouts {
  headersMs: number;
  putHeadersMs: number;
  idleMs: number;
  totalMs: number;
}

/**
 * Defaults. headersMs: a relay answers GET/list from local disk or S3 at once (relay bench: 4 MiB GETs over
 * loopback in milliseconds); 20 s is far beyond a slow WAN round trip plus a slow S3 GET, and bounds how
 * long a silent relay holds up a chunk before failover. putHeadersMs: the body goes up first: 4 chunks in
 * flight x n = 5 relays x 1 MiB is 20 MiB on the uplink, 17 s at 10 Mbit/s, plus the relay's fsync; 60 s
 * leaves 3x room. idleMs: 20 s without a byte is past TCP's 1+2+4+8 s retransmission backoff, so the path
 * is dead or the relay is stalling on purpose. totalMs: a 64 MiB share chunk (the largest chunk size) at
 * 2 Mbit/s takes 270 s; 300 s caps a relay that trickles one byte per idle period.
 */
export const DEFAULT_RELAY_TIMEOUTS: Readonly<RelayTimeouts> = { headersMs: 20_000, putHeadersMs: 60_000, idleMs: 20_000, totalMs: 300_000 };

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  /** Wait before retry i (1-based) is baseDelayMs * 2^i, at most maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A relay's Retry-After is honoured up to this; a longer one is cut to it. */
  maxRetryAfterMs: number;
}

/** 4 tries with 400, 800, 1600 ms between them, as the browser's transport always had (relay-http.ts). */
export const DEFAULT_RETRY: Readonly<RetryPolicy> = { attempts: 4, baseDelayMs: 200, maxDelayMs: 5_000, maxRetryAfterMs: 10_000 };

/** Largest JSON answer read from a relay (errors, PUT/DELETE answers): they are a few hundred bytes. */
export const MAX_JSON_ANSWER_BYTES = 16 * 1024;
/**
 * Bytes a chunk listing may take per chunk: `{"index":4294967294,"size":67108920,"digest":"<64 hex>"},` is
 * 107 bytes; 160 leaves room for whitespace a relay may add.
 */
export const LIST_BYTES_PER_CHUNK = 160;

/**
 * Many files' chunk lists in one request (issue #14: a batch commit of 1,000 files listed each file at each
 * relay, 3,000 requests, its largest cost): `POST /v1/files/lists` with `{ tokens }`, each an ordinary
 * `list` token for one file, so no token covers more than it did. At most this many tokens a request.
 */
export const LIST_BATCH_PATH = '/v1/files/lists';
export const MAX_LIST_BATCH = 256;
/** Largest body of a batch listing request: every token at its largest, the quotes and commas. */
export const MAX_LIST_BATCH_BODY = 64 + MAX_LIST_BATCH * (MAX_TOKEN_BYTES + 3);

/** One file's outcome in a batch listing: its chunks, or the relay's error for that token alone. */
export type ListOutcome = { ok: true; chunks: ChunkListing[] } | { ok: false; error: KofnError };

/**
 * The token for one request. `refresh` is true after the relay said the previous one expired, or when the
 * one the callback gave is about to expire (token-expiry.ts), so the caller fetches a new one from the
 * coordinator.
 */
export type TokenSource = (op: TokenOp, refresh: boolean) => string | Promise<string>;

export interface RelayClientOptions {
  token: TokenSource;
  timeouts?: Partial<RelayTimeouts>;
  retry?: Partial<RetryPolicy>;
  /** The clock that decides when a token is renewed ahead of its expiry: the process's unless a test sets one. */
  tokenClock?: TokenClock;
  /**
   * The transport: the global `fetch` unless a caller sets one. A dealer relay sets one that sends a byte
   * body without copying it (relay/src/node-fetch.ts; fetch copies every Uint8Array body, #15 dealer RSS).
   * Every bound above applies to it alike: the client passes it the attempt's signal and reads its answer.
   */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /**
   * Requests to this relay at once, shared by every client given the same slots (connection-slots.ts): an attempt
   * waits for a slot before it reads its token, so no request waits with a token in a queue the client does not
   * see (a browser's six connections a host), and holds it until its answer is read. The wait is not part of
   * the attempt's timeouts, and ends at the caller's abort. None: no limit here.
   */
  slots?: ConnectionSlots;
}

export interface ChunkListing {
  index: number;
  size: number;
  digest: string;
}

export interface PutAnswer {
  index: number;
  size: number;
  digest: string;
}

/**
 * Whether another try at the same relay may help: no answer at all (network error), a 5xx other than
 * 501/507 (those do not pass), or 429. Timeouts are not retried (see the file comment).
 */
export function isRetryable(err: { code?: unknown; details?: ErrorDetails }): boolean {
  const status = err.details?.status;
  if (status === 0) return err.code === 'RELAYS_OFFLINE';
  return status !== undefined && ((status >= 500 && status !== 501 && status !== 507) || status === 429);
}
/** Codes that mean "this relay failed us": the caller should use another relay and name this one. */
export const RELAY_FAILURE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'RELAYS_OFFLINE',
  'UNAVAILABLE',
  'RATE_LIMITED',
  'RELAY_TIMEOUT',
  'RELAY_ANSWER_TOO_LARGE',
  'RELAY_BAD_ANSWER',
  'BAD_SHARE_FORMAT'
]);

const known = new Set<string>(ERROR_CODES);
const DIGEST = /^[0-9a-f]{64}$/;
const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

type Phase = 'headers' | 'idle' | 'total';

/**
 * The time bounds of one attempt: a phase limit (headers, then idle between body pieces) and the total.
 * `progress()` only stores the time; the phase timer, when it fires early, re-arms for what is left.
 */
class Deadline {
  readonly controller = new AbortController();
  fired: Phase | undefined;
  private last = 0;
  private limit = 0;
  get limitMs(): number {
    return this.limit;
  }
  private phase: Phase = 'headers';
  private phaseTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly totalTimer: ReturnType<typeof setTimeout>;
  private readonly onOuterAbort = () => this.controller.abort(this.outer?.reason);

  constructor(
    totalMs: number,
    private readonly outer?: AbortSignal
  ) {
    this.totalTimer = setTimeout(() => this.fire('total'), totalMs);
    outer?.addEventListener('abort', this.onOuterAbort, { once: true });
  }

  start(phase: Phase, limitMs: number): void {
    this.phase = phase;
    this.limit = limitMs;
    this.last = performance.now();
    clearTimeout(this.phaseTimer);
    this.phaseTimer = setTimeout(this.check, limitMs);
  }

  progress(): void {
    this.last = performance.now();
  }

  private readonly check = (): void => {
    const left = this.limit - (performance.now() - this.last);
    if (left <= 0) this.fire(this.phase);
    else this.phaseTimer = setTimeout(this.check, left);
  };

  private fire(phase: Phase): void {
    if (this.fired || this.controller.signal.aborted) return;
    this.fired = phase;
    clearTimeout(this.phaseTimer);
    this.controller.abort(new DOMException('relay timeout', 'TimeoutError'));
  }

  end(): void {
    clearTimeout(this.phaseTimer);
    clearTimeout(this.totalTimer);
    this.outer?.removeEventListener('abort', this.onOuterAbort);
  }
}

interface Request {
  op: TokenOp;
  method: 'GET' | 'HEAD' | 'PUT' | 'DELETE' | 'POST';
  path: string;
  body?: Blob | Uint8Array<ArrayBuffer> | string;
  /** Extra request headers (a renewal dealer's check-pad seed, relay/src/renewal.ts). */
  headers?: Record<string, string>;
  /** No Authorization header: the body carries the tokens (listMany). */
  noToken?: boolean;
}

/** The renewal steps a relay runs on the coordinator's request (#15, shared/docs/renewal.md). */
export type RenewalStep = 'deal' | 'prepare' | 'check';
const RENEWAL_STEP_OP = { deal: 'renew_deal', prepare: 'renew_prepare', check: 'renew_check' } as const;

export class RelayClient {
  readonly timeouts: RelayTimeouts;
  readonly retry: RetryPolicy;
  private readonly token: TokenSource;
  private readonly tokenClock: TokenClock;
  private readonly fetch: (url: string, init: RequestInit) => Promise<Response>;
  private readonly slots: ConnectionSlots | undefined;

  constructor(
    readonly relay: RelayRef,
    opts: RelayClientOptions
  ) {
    this.token = opts.token;
    this.tokenClock = opts.tokenClock ?? processTokenClock;
    this.timeouts = { ...DEFAULT_RELAY_TIMEOUTS, ...opts.timeouts };
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.fetch = opts.fetch ?? ((url, init) => fetch(url, init));
    this.slots = opts.slots;
  }

  /** Stores one share chunk. The body is best a Blob in browsers (see web/src/lib/engine/share.worker.ts). */
  put(fileId: string, index: number, body: Blob | Uint8Array<ArrayBuffer>, signal?: AbortSignal): Promise<PutAnswer> {
    return this.send({ op: 'put', method: 'PUT', path: chunkPath(fileId, index), body }, signal, async (res, d) => {
      const a = await this.readJson(res, d, MAX_JSON_ANSWER_BYTES);
      const { index: i, size, digest } = (a ?? {}) as Partial<PutAnswer>;
      if (i !== index || !isIndex(size) || typeof digest !== 'string' || !DIGEST.test(digest)) throw this.badAnswer('a malformed answer to a PUT');
      return { index: i, size, digest };
    });
  }

  /** Reads one share chunk of at most `maxBytes` (the largest share chunk of that file). */
  get(fileId: string, index: number, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array<ArrayBuffer>> {
    return this.send({ op: 'get', method: 'GET', path: chunkPath(fileId, index) }, signal, (res, d) => this.readBounded(res, d, maxBytes));
  }

  /**
   * Reads one share chunk into `into` with BYOB reads (no allocation per response; measurements in
   * web/src/lib/engine/share.worker.ts). Answers a view over `into`'s memory; `into` itself is detached.
   * A body longer than `into` is refused: no share chunk of this file can be.
   */
  getInto(fileId: string, index: number, into: ArrayBuffer, signal?: AbortSignal): Promise<Uint8Array<ArrayBuffer>> {
    return this.send({ op: 'get', method: 'GET', path: chunkPath(fileId, index) }, signal, (res, d) => this.readInto(res, d, into));
  }

  /** Size and digest of a stored share chunk, or undefined when the relay has none. */
  head(fileId: string, index: number, signal?: AbortSignal): Promise<{ size: number; digest: string } | undefined> {
    return this.send(
      { op: 'get', method: 'HEAD', path: chunkPath(fileId, index) },
      signal,
      async (res) => {
        if (res.status === 404) return undefined;
        const size = Number(res.headers.get('content-length'));
        const digest = res.headers.get('x-kofn-digest') ?? '';
        if (!isIndex(size) || !DIGEST.test(digest)) throw this.badAnswer('a malformed answer to a HEAD');
        return { size, digest };
      },
      [404]
    );
  }

  /** The chunks a relay holds of a file; `maxChunks` bounds the answer (the file's chunk count + 1). */
  list(fileId: string, maxChunks: number, signal?: AbortSignal): Promise<ChunkListing[]> {
    return this.send({ op: 'list', method: 'GET', path: `/v1/files/${fileId}/chunks` }, signal, async (res, d) => {
      const a = (await this.readJson(res, d, 1024 + LIST_BYTES_PER_CHUNK * maxChunks)) as { chunks?: unknown } | null;
      return this.chunkList(a?.chunks, maxChunks);
    });
  }

  /**
   * The chunk lists of several files in one request (`LIST_BATCH_PATH`): `files[i]` is a file id, the most
   * chunks its list may have and the `list` token for it (the client's token source is not used). Answers
   * one outcome per file, in order. The whole answer is bounded by the files' bounds; an item the relay
   * refused (an expired or wrong token, a storage error) is that item's error, not the request's.
   */
  listMany(files: ReadonlyArray<{ fileId: string; maxChunks: number; token: string }>, signal?: AbortSignal): Promise<ListOutcome[]> {
    if (files.length === 0 || files.length > MAX_LIST_BATCH) throw new RangeError(`listMany takes 1..${MAX_LIST_BATCH} files`);
    const maxBytes = 1024 + files.reduce((sum, f) => sum + 1024 + LIST_BYTES_PER_CHUNK * f.maxChunks, 0);
    const body = JSON.stringify({ tokens: files.map((f) => f.token) });
    return this.send({ op: 'list', method: 'POST', path: LIST_BATCH_PATH, body, headers: { 'content-type': 'application/json' }, noToken: true }, signal, async (res, d) => {
      const a = (await this.readJson(res, d, maxBytes)) as { files?: unknown } | null;
      const items = a?.files;
      if (!Array.isArray(items) || items.length !== files.length) throw this.badAnswer('a malformed batch of chunk lists');
      return items.map((item: { fileId?: unknown; chunks?: unknown; error?: { code?: unknown } | null } | null, i) => {
        const f = files[i]!;
        if (item !== null && typeof item === 'object' && item.error !== undefined) {
          const sent = item.error?.code;
          const code: ErrorCode = typeof sent === 'string' && known.has(sent) ? (sent as ErrorCode) : 'RELAY_BAD_ANSWER';
          return { ok: false as const, error: this.error(code, `Storage server ${this.relay.name} refused listing a file (${code}).`, 200) };
        }
        if (item?.fileId !== f.fileId) throw this.badAnswer('a malformed batch of chunk lists');
        return { ok: true as const, chunks: this.chunkList(item.chunks, f.maxChunks) };
      });
    });
  }

  /** A relay's list of chunks, checked: at most `maxChunks`, each an index, a size and a SHA-256 digest. */
  private chunkList(chunks: unknown, maxChunks: number): ChunkListing[] {
    if (!Array.isArray(chunks) || chunks.length > maxChunks) throw this.badAnswer('a malformed chunk list');
    return chunks.map((c: Partial<ChunkListing> | null) => {
      if (!isIndex(c?.index) || !isIndex(c.size) || typeof c.digest !== 'string' || !DIGEST.test(c.digest)) throw this.badAnswer('a malformed chunk list');
      return { index: c.index, size: c.size, digest: c.digest };
    });
  }

  deleteChunk(fileId: string, index: number, signal?: AbortSignal): Promise<boolean> {
    return this.send({ op: 'delete', method: 'DELETE', path: chunkPath(fileId, index) }, signal, async (res, d) => {
      const a = (await this.readJson(res, d, MAX_JSON_ANSWER_BYTES)) as { deleted?: unknown } | null;
      if (typeof a?.deleted !== 'boolean') throw this.badAnswer('a malformed answer to a DELETE');
      return a.deleted;
    });
  }

  /** Deletes every share chunk of a file; answers how many there were. */
  deleteFile(fileId: string, signal?: AbortSignal): Promise<number> {
    return this.send({ op: 'delete', method: 'DELETE', path: `/v1/files/${fileId}` }, signal, async (res, d) => {
      const a = (await this.readJson(res, d, MAX_JSON_ANSWER_BYTES)) as { deleted?: unknown } | null;
      if (!isIndex(a?.deleted)) throw this.badAnswer('a malformed answer to a DELETE');
      return a.deleted;
    });
  }

  /** Renewal (#15): stores dealer `dealerX`'s contribution to chunk `index` of epoch `epoch` on this relay. */
  putContribution(fileId: string, epoch: number, dealerX: number, index: number, body: Blob | Uint8Array<ArrayBuffer>, signal?: AbortSignal, checkPad?: string): Promise<PutAnswer> {
    const path = `/v1/files/${fileId}/epochs/${epoch}/from/${dealerX}/chunks/${index}`;
    return this.send({ op: 'renew_put', method: 'PUT', path, body, ...(checkPad ? { headers: { 'x-kofn-check-pad': checkPad } } : {}) }, signal, async (res, d) => {
      const a = await this.readJson(res, d, MAX_JSON_ANSWER_BYTES);
      const { index: i, size, digest } = (a ?? {}) as Partial<PutAnswer>;
      if (i !== index || !isIndex(size) || typeof digest !== 'string' || !DIGEST.test(digest)) throw this.badAnswer('a malformed answer to a contribution');
      return { index: i, size, digest };
    });
  }

  /** Renewal (#15): runs one step for epoch `epoch` of a file; answers the relay's JSON, read up to `maxBytes`. */
  renewalStep(fileId: string, epoch: number, step: RenewalStep, body: object, maxBytes: number, signal?: AbortSignal): Promise<unknown> {
    const path = `/v1/files/${fileId}/epochs/${epoch}/${step}`;
    return this.send({ op: RENEWAL_STEP_OP[step], method: 'POST', path, body: JSON.stringify(body) }, signal, (res, d) => this.readJson(res, d, maxBytes));
  }

  /** Renewal (#15): deletes epoch `epoch` of a file (and the contributions the token names); answers how many chunks. */
  dropEpoch(fileId: string, epoch: number, signal?: AbortSignal): Promise<number> {
    return this.send({ op: 'renew_drop', method: 'DELETE', path: `/v1/files/${fileId}/epochs/${epoch}` }, signal, async (res, d) => {
      const a = (await this.readJson(res, d, MAX_JSON_ANSWER_BYTES)) as { deleted?: unknown } | null;
      if (!isIndex(a?.deleted)) throw this.badAnswer('a malformed answer to a drop');
      return a.deleted;
    });
  }

  /**
   * Renewal resumed by range (#15, renewal.md "Resuming by range"): deletes only the contributions the token's
   * dealers made to chunks `from`..`to` of epoch `epoch` (a deal range cut midway), nothing staged.
   */
  dropContributions(fileId: string, epoch: number, from: number, to: number, signal?: AbortSignal): Promise<number> {
    return this.send({ op: 'renew_drop', method: 'DELETE', path: `/v1/files/${fileId}/epochs/${epoch}?from=${from}&to=${to}` }, signal, async (res, d) => {
      const a = (await this.readJson(res, d, MAX_JSON_ANSWER_BYTES)) as { deleted?: unknown } | null;
      if (!isIndex(a?.deleted)) throw this.badAnswer('a malformed answer to a drop');
      return a.deleted;
    });
  }

  /** Runs `req` with retries; `read` turns a 2xx (or an `accept`ed status) answer into the result. */
  private async send<T>(req: Request, signal: AbortSignal | undefined, read: (res: Response, d: Deadline) => Promise<T>, accept: number[] = []): Promise<T> {
    let refresh = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(req, refresh, signal, read, accept);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        const e = err as KofnError;
        const backoff = Math.min(this.retry.baseDelayMs * 2 ** attempt, this.retry.maxDelayMs);
        if (e.code === 'TOKEN_EXPIRED' && attempt < this.retry.attempts) {
          // A fresh token refused as expired too spent its life before it was sent: a browser queues requests
          // past its six connections to one host, and behind slow bodies a request waited longer than a token
          // lives (an e2e run with 10 s tokens and a paced relay). Again after the backoff, with another fresh
          // token, within the same attempts as any retry.
          if (refresh) await delay(backoff, signal);
          refresh = true;
          continue;
        }
        refresh = false;
        if (!isRetryable(e) || attempt >= this.retry.attempts) throw err;
        const asked = e.details.retryAfterMs;
        await delay(asked === undefined ? backoff : Math.min(asked, this.retry.maxRetryAfterMs), signal);
      }
    }
  }

  private async once<T>(req: Request, refresh: boolean, signal: AbortSignal | undefined, read: (res: Response, d: Deadline) => Promise<T>, accept: number[]): Promise<T> {
    const release = await this.slots?.acquire(signal);
    const d = new Deadline(this.timeouts.totalMs, signal);
    try {
      let token = req.noToken ? undefined : await this.token(req.op, refresh);
      if (token !== undefined && !refresh && this.tokenClock.needsRenewal(token)) {
        // Renewed ahead of expiry, once: a token that comes back still about to expire is used as it is.
        const old = token;
        token = await this.token(req.op, true);
        this.tokenClock.noteFresh(token, old);
      }
      d.start('headers', req.method === 'PUT' ? this.timeouts.putHeadersMs : this.timeouts.headersMs);
      let res: Response;
      try {
        res = await this.fetch(`${this.relay.url}${req.path}`, {
          method: req.method,
          headers: { ...req.headers, ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }) },
          ...(req.body ? { body: req.body } : {}),
          cache: 'no-store',
          signal: d.controller.signal
        });
      } catch (err) {
        throw this.failure(err, d);
      }
      d.start('idle', this.timeouts.idleMs);
      try {
        if (!res.ok && !accept.includes(res.status)) throw await this.errorAnswer(res, d);
        return await read(res, d);
      } catch (err) {
        // Stop the body (and so the connection) of an answer not read to its end.
        res.body?.cancel().catch(() => undefined);
        throw this.failure(err, d);
      }
    } finally {
      d.end();
      release?.();
    }
  }

  /** Maps what went wrong in an attempt to a KofnError naming the relay. */
  private failure(err: unknown, d: Deadline): unknown {
    if (d.fired) {
      const what = d.fired === 'headers' ? 'did not answer within' : d.fired === 'idle' ? 'stopped sending for' : 'took longer than';
      const ms = d.fired === 'total' ? this.timeouts.totalMs : d.limitMs;
      return this.error('RELAY_TIMEOUT', `Storage server ${this.relay.name} ${what} ${ms / 1000} s.`, 0);
    }
    if (d.controller.signal.aborted) return d.controller.signal.reason; // the caller's abort
    if (err instanceof KofnError) return err;
    return this.error('RELAYS_OFFLINE', `Storage server ${this.relay.name} is not reachable.`, 0, err);
  }

  private error(code: ErrorCode, message: string, status: number, cause?: unknown, retryAfterMs?: number): KofnError {
    const details: ErrorDetails = { relayId: this.relay.id, relayName: this.relay.name, status };
    if (retryAfterMs !== undefined) details.retryAfterMs = retryAfterMs;
    return new KofnError(code, message, { details, ...(cause === undefined ? {} : { cause }) });
  }

  private badAnswer(what: string): KofnError {
    return this.error('RELAY_BAD_ANSWER', `Storage server ${this.relay.name} sent ${what}.`, 200);
  }

  /** A relay's error answer: its code when it is one of ours (its message is not shown: relays may lie). */
  private async errorAnswer(res: Response, d: Deadline): Promise<KofnError> {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    let code: ErrorCode = res.status === 429 ? 'RATE_LIMITED' : res.status >= 500 ? 'UNAVAILABLE' : 'RELAY_BAD_ANSWER';
    const body = await this.readJson(res, d, MAX_JSON_ANSWER_BYTES).catch((err: unknown) => {
      // A timeout while reading the error is the answer; a malformed error body is only ignored.
      if (d.fired || d.controller.signal.aborted) throw err;
      return undefined;
    });
    const sent = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
    if (typeof sent === 'string' && known.has(sent)) code = sent as ErrorCode;
    return this.error(code, `Storage server ${this.relay.name} answered ${res.status}${code === 'RELAY_BAD_ANSWER' ? '' : ` (${code})`}.`, res.status, undefined, retryAfterMs);
  }

  private async readJson(res: Response, d: Deadline, maxBytes: number): Promise<unknown> {
    const bytes = await this.readBounded(res, d, maxBytes);
    try {
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw this.badAnswer('an answer that is not JSON');
    }
  }

  /** Reads a whole body of at most `maxBytes`, refusing (and cancelling) past it. */
  private async readBounded(res: Response, d: Deadline, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
    const declared = res.headers.get('content-length');
    if (declared !== null && Number(declared) > maxBytes) throw this.tooLarge(maxBytes);
    return readBounded(
      res.body,
      maxBytes,
      () => this.tooLarge(maxBytes),
      () => d.progress()
    );
  }

  private async readInto(res: Response, d: Deadline, into: ArrayBuffer): Promise<Uint8Array<ArrayBuffer>> {
    const declared = res.headers.get('content-length');
    if (declared !== null && Number(declared) > into.byteLength) throw this.tooLarge(into.byteLength);
    if (!res.body) throw this.badAnswer('no body');
    const reader = res.body.getReader({ mode: 'byob' });
    let buf = into;
    let length = 0;
    for (;;) {
      if (length === buf.byteLength) {
        // Full: one more byte means the relay sent more than a share chunk of this file can hold.
        const { done } = await reader.read(new Uint8Array(1));
        if (done) break;
        await reader.cancel().catch(() => undefined);
        throw this.tooLarge(buf.byteLength);
      }
      const { done, value } = await reader.read(new Uint8Array(buf, length));
      if (value) {
        buf = value.buffer;
        length += value.byteLength;
      }
      if (done) break;
      d.progress();
    }
    return new Uint8Array(buf, 0, length);
  }

  private tooLarge(maxBytes: number): KofnError {
    return this.error('RELAY_ANSWER_TOO_LARGE', `Storage server ${this.relay.name} sent more than the ${maxBytes} bytes expected.`, 200);
  }
}

function chunkPath(fileId: string, index: number): string {
  return `/v1/files/${fileId}/chunks/${index}`;
}

/** Retry-After as ms: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or malformed. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  if (/^\d{1,9}$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
