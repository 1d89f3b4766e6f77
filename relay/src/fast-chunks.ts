/**
 * PUT and GET of one share chunk served straight from node:http, ahead of Hono (issue #14, "Performance").
 *
 * Why: these two routes carry every byte a relay moves, and on them Hono and its Node adapter cost a Web
 * `Request` with its header list, a `Context`, five middlewares' closures and promises, a `Response` and a
 * second pass over its headers for every 4 MiB chunk: objects that live as long as the upload, so under 16
 * concurrent uploads they survive scavenges and feed the full garbage collections the profile shows
 * (`KOFN_BENCH_NODE_ARGS="--cpu-prof"` on the relay benchmark's PUT phase). Here a chunk request is one
 * function over Node's `IncomingMessage`/`ServerResponse`.
 *
 * Same answers as the Hono routes (app.ts), by construction:
 *   - only a request the fast path can answer *successfully up to its body* is taken: method PUT or GET,
 *     the exact path `/v1/files/<32 hex>/chunks/<index>` (no query, no encoding), each header it reads sent
 *     at most once, a capability token already verified by this relay (the token cache, capability.ts) whose
 *     scope covers the chunk, a Content-Length that is a plain number within the token's limit, no Range, a
 *     free request slot. Anything else, and a GET of a chunk that is not there, goes to Hono untouched (no
 *     body byte read), which gives its usual answer. So every token, path and header error still comes from
 *     Hono, and a file's first chunk (token not yet verified) too;
 *   - what can fail once the body is read (size, share format, length, conflict, full disk) is answered
 *     with the same error table (http-error.ts), the same JSON shape and the same headers: the security and
 *     CORS headers Hono's middlewares add (SECURITY_HEADERS, checked against Hono's by fast-chunks.test.ts),
 *     `X-Request-Id`, the request log line, the metrics counters, the same request slot (`RequestGate`);
 *   - storing is the same code: `ingest` (spool, count, hash, header check, fsync) then `store.commit`
 *     (link, folder fsync), so the durability order is unchanged; reading is `store.get` then `sendFile`.
 */
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type RequestListener, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { isFileId, parseChunkIndex, randomUuid, type ErrorBody } from '@kofn/shared';
import { epochStorageId } from '@kofn/shared/recover';
import { cachedCapability, requireScope, type KeySource } from './capability.js';
import { toHttpError } from './http-error.js';
import { ingest } from './storage/ingest.js';
import { sendFile } from './storage/send-file.js';
import type { ChunkStore, StoredChunk } from './storage/types.js';
import type { RelayMetrics } from './metrics.js';
import type { RelayLog } from './app.js';

/** Requests on the file routes being handled now, shared by Hono's limiter and the fast path. */
export interface RequestGate {
  handling: number;
  readonly max: number;
}

/** The part of the relay's logger (app.ts) the fast path writes to. */
type Log = Pick<RelayLog, 'info' | 'error'>;

export interface FastChunkDeps {
  relayId: string;
  keys: KeySource;
  store: ChunkStore;
  gate: RequestGate;
  /** Web origins given CORS access (exact match), as for Hono's cors middleware. */
  origins: ReadonlySet<string>;
  maxChunkBytes: number;
  log?: Log | undefined;
  metrics?: RelayMetrics | undefined;
}

/** The headers Hono's `secureHeaders` (with app.ts's options) puts on every answer. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'cross-origin',
  'Origin-Agent-Cluster': '?1',
  'Referrer-Policy': 'no-referrer',
  'Strict-Transport-Security': 'max-age=15552000; includeSubDomains',
  'X-Content-Type-Options': 'nosniff',
  'X-DNS-Prefetch-Control': 'off',
  'X-Download-Options': 'noopen',
  'X-Frame-Options': 'SAMEORIGIN',
  'X-Permitted-Cross-Domain-Policies': 'none',
  'X-XSS-Protection': '0'
});

/** Response headers a browser page may read (Hono's cors `exposeHeaders`, app.ts uses the same list). */
export const EXPOSE_HEADERS = ['X-Request-Id', 'X-Kofn-Digest', 'Content-Length', 'Retry-After'];
const EXPOSE = EXPOSE_HEADERS.join(',');

/** The route pattern metrics label these requests with (Hono's matched route). */
const ROUTE = '/v1/files/:fileId/chunks/:index';
const CHUNK_PATH = /^\/v1\/files\/([^/?#]+)\/chunks\/([^/?#]+)$/;
const REQUEST_ID = /^[A-Za-z0-9-]{1,64}$/;
const DECIMAL = /^\d{1,15}$/;

/** What the fast path reads from a request's headers; undefined when one of them came twice. */
interface Wanted {
  authorization?: string;
  contentLength?: string;
  origin?: string;
  requestId?: string;
  range?: string;
}

function wantedHeaders(raw: string[]): Wanted | undefined {
  const w: Wanted = {};
  for (let i = 0; i < raw.length; i += 2) {
    let key: keyof Wanted;
    switch (raw[i]!.toLowerCase()) {
      case 'authorization':
        key = 'authorization';
        break;
      case 'content-length':
        key = 'contentLength';
        break;
      case 'origin':
        key = 'origin';
        break;
      case 'x-request-id':
        key = 'requestId';
        break;
      case 'range':
        key = 'range';
        break;
      default:
        continue;
    }
    // Twice: Hono would see the values joined; let it answer.
    if (w[key] !== undefined) return undefined;
    w[key] = raw[i + 1]!;
  }
  return w;
}

/**
 * As the adapter does for a body left unread (node-server `drainIncoming`): read and drop, bounded, so the
 * client reads the answer before the socket closes (closing on unread bytes sends a reset that can beat it).
 * The body left unread here belongs to a PUT already refused (past its token's bound, or malformed). Over a
 * real link the 500 ms bound ends the drain first; on loopback the adapter's 64 MiB let a client streaming a
 * GiB push 70 MB through on a busy CI machine (quota.test.ts), so the byte bound here is 8 MiB.
 */
const DRAIN_TIMEOUT_MS = 500;
const MAX_DRAIN_BYTES = 8 * 1024 * 1024;

function drain(req: IncomingMessage): void {
  if (req.destroyed || req.readableEnded) return;
  let bytes = 0;
  const forceClose = () => {
    cleanup();
    if (!req.socket.destroyed) req.socket.destroySoon();
  };
  const onData = (b: Buffer) => {
    bytes += b.length;
    if (bytes > MAX_DRAIN_BYTES) forceClose();
  };
  const cleanup = () => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', cleanup);
    req.off('error', cleanup);
  };
  const timer = setTimeout(forceClose, DRAIN_TIMEOUT_MS);
  timer.unref();
  req.on('data', onData);
  req.on('end', cleanup);
  req.on('error', cleanup);
  req.resume();
}

/** The headers of a chunk GET's answer, from the fast path and from the Hono route (app.ts) alike. */
export function chunkGetHeaders(chunk: StoredChunk): Record<string, string> {
  return {
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(chunk.size),
    'Content-Disposition': 'attachment',
    'Cache-Control': 'no-store',
    'Accept-Ranges': 'none',
    'X-Kofn-Digest': chunk.digest
  };
}

/**
 * A request listener that serves chunk PUTs and GETs itself when it can (see the file comment) and hands
 * every other request to `fallback` (the Hono adapter's listener).
 */
export function fastChunkListener(deps: FastChunkDeps, fallback: RequestListener): RequestListener {
  const { gate, store } = deps;

  /** Headers on every answer: what Hono's middlewares add (security, CORS, request id). */
  const baseHeaders = (h: Wanted, requestId: string): OutgoingHttpHeaders => {
    const out: OutgoingHttpHeaders = { ...SECURITY_HEADERS, 'Access-Control-Expose-Headers': EXPOSE, Vary: 'Origin', 'X-Request-Id': requestId };
    // Timing-Allow-Origin too, as app.ts grants its CORS origins (the browser's ping and transfer timings).
    if (h.origin && deps.origins.has(h.origin)) {
      out['Access-Control-Allow-Origin'] = h.origin;
      out['Timing-Allow-Origin'] = h.origin;
    }
    return out;
  };

  /** The request log line and the metrics counters, as app.ts's and metrics.ts's middlewares write them. */
  const done = (req: IncomingMessage, h: Wanted, requestId: string, t0: number, status: number, outBytes: number): void => {
    const m = deps.metrics;
    if (m) {
      m.requests.inc({ route: ROUTE, method: req.method ?? '', status: String(status) });
      const inBytes = h.contentLength && DECIMAL.test(h.contentLength) ? Number(h.contentLength) : 0;
      if (inBytes > 0) m.requestBytes.inc({ route: ROUTE }, inBytes);
      if (outBytes > 0) m.responseBytes.inc({ route: ROUTE }, outBytes);
    }
    deps.log?.info({ reqId: requestId, method: req.method, path: req.url, status, ms: Math.round(performance.now() - t0) }, 'request');
  };

  const json = (req: IncomingMessage, res: ServerResponse, h: Wanted, requestId: string, t0: number, status: number, body: object, extra?: OutgoingHttpHeaders): void => {
    const text = JSON.stringify(body);
    const length = Buffer.byteLength(text);
    // 0 response bytes: Hono's JSON answers carry no Content-Length until the adapter writes them, so the
    // metrics middleware counts none for them either.
    done(req, h, requestId, t0, status, 0);
    // A client gone mid-upload: counted and logged as Hono would, nothing to write to.
    if (res.destroyed) return;
    res.writeHead(status, { ...baseHeaders(h, requestId), ...extra, 'Content-Type': 'application/json', 'Content-Length': length });
    res.end(text);
  };

  const fail = (req: IncomingMessage, res: ServerResponse, h: Wanted, requestId: string, t0: number, err: unknown): void => {
    const { status, body, known } = toHttpError(err);
    if (!known) deps.log?.error({ reqId: requestId, err: { name: (err as Error).name, message: (err as Error).message } }, 'unhandled relay error');
    json(req, res, h, requestId, t0, status, body satisfies ErrorBody);
  };

  const put = async (req: IncomingMessage, res: ServerResponse, h: Wanted, requestId: string, t0: number, fileId: string, index: number, max: number, length: number | undefined) => {
    gate.handling += 1;
    try {
      // `destroyOnReturn: false`: a size or format error ends the loop early; the answer then goes out on a
      // live socket and the rest of the body is drained (below), as the adapter does for Hono's answers.
      const body = req.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
      const spooled = await ingest(body, { spoolDir: store.spoolDir, maxBytes: max, expectedLength: length, fileId, index });
      const { created } = await store.commit(fileId, index, spooled);
      json(req, res, h, requestId, t0, created ? 201 : 200, { index, size: spooled.size, digest: spooled.digest, created }, { 'X-Kofn-Digest': spooled.digest });
    } catch (err) {
      fail(req, res, h, requestId, t0, err);
    } finally {
      gate.handling -= 1;
    }
    if (!req.readableEnded) res.once('close', () => setTimeout(() => setTimeout(() => drain(req))));
  };

  const get = async (req: IncomingMessage, res: ServerResponse, h: Wanted, requestId: string, t0: number, storageId: string, index: number) => {
    let chunk: StoredChunk | undefined;
    gate.handling += 1;
    try {
      chunk = await store.get(storageId, index);
    } catch (err) {
      gate.handling -= 1;
      fail(req, res, h, requestId, t0, err);
      return;
    }
    gate.handling -= 1;
    // Not there: Hono looks again and gives its 404 (nothing was read or written yet).
    if (!chunk) {
      fallback(req, res);
      return;
    }
    done(req, h, requestId, t0, 200, chunk.size);
    res.writeHead(200, { ...baseHeaders(h, requestId), ...chunkGetHeaders(chunk) });
    // As node-io.ts: a read error or a client gone destroys both ends (a short body, never a wrong one).
    const file = chunk.file;
    if (file) {
      sendFile(file, chunk.size, res)
        .catch(() => undefined)
        .finally(() => void file.close().catch(() => undefined));
    } else {
      pipeline(chunk.open(), res).catch(() => undefined);
    }
  };

  /**
   * A failure while writing an answer (put and get catch everything before): nothing sensible can be sent
   * any more, so the connection is closed rather than the process brought down by an unhandled rejection.
   */
  const broken = (res: ServerResponse, requestId: string, err: unknown): void => {
    deps.log?.error({ reqId: requestId, err: { name: (err as Error).name, message: (err as Error).message } }, 'unhandled relay error');
    res.destroy();
  };

  /** Starts answering `req` and returns true, or returns false (nothing read) for Hono to answer it. */
  const take = (req: IncomingMessage, res: ServerResponse): boolean => {
    const method = req.method;
    const m = method === 'PUT' || method === 'GET' ? CHUNK_PATH.exec(req.url ?? '') : null;
    if (!m || gate.handling >= gate.max) return false;
    const h = wantedHeaders(req.rawHeaders);
    const fileId = m[1] ?? '';
    const index = parseChunkIndex(m[2] ?? '');
    if (!h || !isFileId(fileId) || index === undefined) return false;
    // Only a token this relay has already verified; the first request with a token goes through Hono.
    const cap = cachedCapability(h.authorization, deps.keys, deps.relayId);
    if (!cap) return false;
    try {
      requireScope(cap, method === 'PUT' ? 'put' : 'get', fileId, index);
    } catch {
      return false;
    }
    const t0 = performance.now();
    const requestId = h.requestId && REQUEST_ID.test(h.requestId) ? h.requestId : randomUuid();
    if (method === 'GET') {
      if (h.range !== undefined) return false;
      get(req, res, h, requestId, t0, epochStorageId(fileId, cap.ep ?? 0), index).catch((err: unknown) => broken(res, requestId, err));
      return true;
    }
    const max = Math.min(cap.max ?? deps.maxChunkBytes, deps.maxChunkBytes);
    let length: number | undefined;
    if (h.contentLength !== undefined) {
      if (!DECIMAL.test(h.contentLength)) return false;
      length = Number(h.contentLength);
      if (length > max) return false;
    }
    put(req, res, h, requestId, t0, fileId, index, max, length).catch((err: unknown) => broken(res, requestId, err));
    return true;
  };

  return (req, res) => {
    if (!take(req, res)) fallback(req, res);
  };
}

/**
 * For `serve({ createServer })` (@hono/node-server): a node:http server whose listener is the fast path in
 * front of the adapter's. `fast` undefined: the adapter's listener alone.
 */
export function createServerWith(fast: ((fallback: RequestListener) => RequestListener) | undefined): typeof createServer {
  const make = (options: ServerOptions, listener?: RequestListener): Server => createServer(options, listener && fast ? fast(listener) : listener);
  // The adapter calls it as createServer(options, listener) only (node-server createAdaptorServer); node's
  // other overloads (no options, typed request classes) are never used.
  return make as typeof createServer;
}
