/**
 * The relay's HTTP surface (Hono). Tests call `app.request()` without opening a port.
 *
 *   PUT    /v1/files/:fileId/chunks/:index   store one share chunk (token op "put")
 *   GET    /v1/files/:fileId/chunks/:index   read it back (op "get"); HEAD: size and digest only
 *   DELETE /v1/files/:fileId/chunks/:index   delete it (op "delete")
 *   GET    /v1/files/:fileId/chunks          list stored chunks with digests (op "list")
 *   DELETE /v1/files/:fileId                 delete every chunk of a file (op "delete_file")
 *   POST   /v1/files/lists                   many files' chunk lists, one list token each (batch-list.ts)
 *   GET    /v1/health                        name, location, version, free/used bytes (public)
 *   GET    /v1/ping                          empty 204 for latency measurement (public)
 *   .../epochs/...                            proactive renewal (#15): see renewal.ts
 *
 * GET, HEAD and list read the epoch the token names (claim "ep", absent = 0), so a retrieval that began
 * before a renewal's switch finishes on the epoch it began with (shared/docs/renewal.md, step 5).
 *
 * Served by Node (`serve()` with `createServer: relayServer(app)`, main.ts), most chunk PUTs and GETs never
 * reach this app: fast-chunks.ts answers them from node:http with the same checks and answers, and hands
 * anything it does not take (first use of a token, any error before the body) to these routes.
 */
import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { secureHeaders } from 'hono/secure-headers';
import { HEADER_BYTES, KOFN_VERSION, KofnError, MAX_EPOCH, parseChunkIndex, isFileId, type TokenOp, randomUuid } from '@kofn/shared';
import type { RelayConfig } from './config.js';
import type { ChunkStore } from './storage/types.js';
import { ingest } from './storage/ingest.js';
import { chunkAnswer, requestBody, withNodeBodies } from './node-io.js';
import { requireScope, verifyCapability, type KeySource } from './capability.js';
import { toHttpError } from './http-error.js';
import { epochId, renewalRoutes } from './renewal.js';
import { mountRepair } from './repair.js';
import { mountBatchList } from './batch-list.js';
import { RETRY_AFTER_S } from './server-limits.js';
import { metricsMiddleware, mountOps, type RelayMetrics } from './metrics.js';
import { EXPOSE_HEADERS, chunkGetHeaders, createServerWith, fastChunkListener, type RequestGate } from './fast-chunks.js';
import type { RequestListener, createServer } from 'node:http';

export interface RelayLog {
  info: (obj: object, msg: string) => void;
  warn: (obj: object, msg: string) => void;
  error: (obj: object, msg: string) => void;
}

export interface RelayDeps {
  config: RelayConfig;
  relayId: string;
  store: ChunkStore;
  /** The coordinator's token verification key(s): a JWKS getter in production. */
  keys: KeySource;
  log?: RelayLog;
  /** File requests handled at once before answering 429 with Retry-After (server-limits.ts); default no cap. */
  maxRequests?: number;
  /** Request counters and store timings (metrics.ts); served on /metrics only with a scrape token. */
  metrics?: RelayMetrics;
  scrapeToken?: string | undefined;
}

/** Largest share chunk a relay accepts whatever a token says: 64 MiB of record plus the header. */
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024 + 16 + HEADER_BYTES;

const REQUEST_ID = /^[A-Za-z0-9-]{1,64}$/;

export interface Env {
  Variables: { requestId: string };
}

function pathParams(c: Context<Env>, withIndex: boolean): { fileId: string; index: number } {
  const fileId = c.req.param('fileId') ?? '';
  if (!isFileId(fileId)) throw new KofnError('BAD_REQUEST', 'File id must be 32 lowercase hex digits.');
  if (!withIndex) return { fileId, index: -1 };
  const index = parseChunkIndex(c.req.param('index') ?? '');
  if (index === undefined) throw new KofnError('BAD_REQUEST', 'Chunk index must be an integer 0..4294967294.');
  return { fileId, index };
}

/** Content-Length, if sent: one plain decimal number (duplicates and lies are refused). */
function declaredLength(c: Context<Env>): number | undefined {
  const raw = c.req.header('content-length');
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw)) throw new KofnError('BAD_REQUEST', 'Malformed Content-Length.');
  return Number(raw);
}

export function createApp(deps: RelayDeps): Hono<Env> {
  const { config, store } = deps;
  const app = new Hono<Env>();
  const allowed = new Set(config.web_origins);

  const authorize = async (c: Context<Env>, op: TokenOp, fileId: string, index?: number) => {
    const cap = await verifyCapability(c.req.header('authorization'), deps.keys, deps.relayId);
    requireScope(cap, op, fileId, index);
    return cap;
  };

  if (deps.metrics) app.use('*', metricsMiddleware(deps.metrics));
  app.use('*', async (c, next) => {
    const given = c.req.header('x-request-id');
    const id = given && REQUEST_ID.test(given) ? given : randomUuid();
    c.set('requestId', id);
    const t0 = performance.now();
    await next();
    c.header('X-Request-Id', id);
    // Method, route and status only: never the Authorization header, never a body.
    deps.log?.info({ reqId: id, method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - t0) }, 'request');
  });
  app.use(
    '*',
    secureHeaders({
      // Relays serve bytes, never pages: nothing may be framed, sniffed or run.
      contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
      crossOriginResourcePolicy: 'cross-origin'
    })
  );
  app.use(
    '*',
    cors({
      // Exact match only; anything else gets no CORS headers at all.
      origin: (origin) => (allowed.has(origin) ? origin : null),
      allowMethods: ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
      // Retry-After: the browser's relay client honours it on 429/503 (a proxy in front of a relay may send it).
      exposeHeaders: EXPOSE_HEADERS,
      maxAge: 600
    })
  );

  // Resource Timing (W3C Resource Timing §4.5, timing allow check) hides a cross-origin answer's request
  // and connection times unless Timing-Allow-Origin names the page's origin; the browser's ping then read
  // from fetchStart, which also counts dispatching the request to the app's service worker (its fetch
  // handler sees every request of the page, relays' included) and opening a connection: 10-15 ms on
  // loopback where the request itself took about 1 ms (issue #17). Granted to the CORS origins only.
  app.use('*', async (c, next) => {
    await next();
    const origin = c.req.header('origin');
    if (origin !== undefined && allowed.has(origin)) c.header('Timing-Allow-Origin', origin);
  });

  app.get('/v1/health', async (c) => {
    const usage = await store.usage();
    return c.json({
      id: deps.relayId,
      name: config.name,
      location: config.location,
      version: KOFN_VERSION,
      storage: store.kind,
      freeBytes: usage.freeBytes,
      usedBytes: usage.usedBytes
    });
  });

  // The browser times this round trip to choose the fastest relays; it must do no work.
  app.get('/v1/ping', (c) => {
    c.header('Cache-Control', 'no-store');
    return c.body(null, 204);
  });

  // Readiness and, with a scrape token, Prometheus metrics (issue #22).
  mountOps(app, { metrics: deps.metrics, scrapeToken: deps.scrapeToken, store });

  // A busy relay says so (429 + Retry-After, RFC 6585 §4) rather than queueing without bound; clients
  // retry after the time asked (shared/src/protocol/relay-client.ts). Counted before the token is checked,
  // so a flood of bad tokens cannot slip past it.
  // One count for these routes and the chunk fast path (fast-chunks.ts), which serves most chunk requests.
  // A batch listing takes further slots for the listings it runs at once (batch-list.ts, issue #24).
  const gate: RequestGate = { handling: 0, max: deps.maxRequests ?? Infinity };
  app.use('/v1/files/*', async (c, next) => {
    if (c.req.method === 'OPTIONS') return next();
    if (gate.handling >= gate.max) {
      const e = new KofnError('RATE_LIMITED', 'The storage server is busy; try again shortly.');
      return c.json(e.toJSON(), 429, { 'Retry-After': String(RETRY_AFTER_S) });
    }
    gate.handling += 1;
    try {
      await next();
    } finally {
      gate.handling -= 1;
    }
  });

  const CHUNK = '/v1/files/:fileId/chunks/:index';

  app.put(CHUNK, async (c) => {
    const { fileId, index } = pathParams(c, true);
    const cap = await authorize(c, 'put', fileId, index);
    const max = Math.min(cap.max ?? MAX_CHUNK_BYTES, MAX_CHUNK_BYTES);
    const length = declaredLength(c);
    // Refuse before reading a byte when the declared size is already too big.
    if (length !== undefined && length > max) throw new KofnError('PAYLOAD_TOO_LARGE', `Share chunk over ${max} bytes.`);
    const spooled = await ingest(requestBody(c), { spoolDir: store.spoolDir, maxBytes: max, expectedLength: length, fileId, index });
    const { created } = await store.commit(fileId, index, spooled);
    c.header('X-Kofn-Digest', spooled.digest);
    return c.json({ index, size: spooled.size, digest: spooled.digest, created }, created ? 201 : 200);
  });

  app.get(CHUNK, async (c) => {
    const { fileId, index } = pathParams(c, true);
    const cap = await authorize(c, 'get', fileId, index);
    // Hono answers HEAD through the GET route (hono-base.js dispatches HEAD as GET and drops the body), so
    // a route registered for HEAD is never reached. HEAD is told apart here and reads the chunk's size and
    // digest only: opening its bytes to drop them would read the whole chunk, and on S3 hold a connection.
    if (c.req.method === 'HEAD') {
      const head = await store.head(epochId(fileId, cap.ep ?? 0), index);
      if (!head) return c.body(null, 404);
      return c.body(null, 200, { 'Content-Length': String(head.size), 'X-Kofn-Digest': head.digest, 'Cache-Control': 'no-store' });
    }
    // Share chunks are read whole (the reader authenticates whole records); ranges only invite abuse.
    if (c.req.header('range') !== undefined) throw new KofnError('RANGE_NOT_SUPPORTED', 'Range requests are not supported.');
    const chunk = await store.get(epochId(fileId, cap.ep ?? 0), index);
    if (!chunk) throw new KofnError('NOT_FOUND', 'File not found on the servers.');
    return chunkAnswer(c, chunk, chunkGetHeaders(chunk));
  });

  app.delete(CHUNK, async (c) => {
    const { fileId, index } = pathParams(c, true);
    await authorize(c, 'delete', fileId, index);
    return c.json({ deleted: await store.delete(fileId, index) });
  });

  app.get('/v1/files/:fileId/chunks', async (c) => {
    const { fileId } = pathParams(c, false);
    const cap = await authorize(c, 'list', fileId);
    return c.json({ fileId, chunks: await store.list(epochId(fileId, cap.ep ?? 0)) });
  });

  // Many files' chunk lists in one request (issue #14), before the per-file routes' 405s.
  mountBatchList(app, { store, keys: deps.keys, relayId: deps.relayId, gate });

  app.delete('/v1/files/:fileId', async (c) => {
    const { fileId } = pathParams(c, false);
    // Its own op: a chunk-scoped "delete" token must not reach every chunk (issue #13 item 9).
    const cap = await authorize(c, 'delete_file', fileId);
    // A renewed file (#15) also lives at its current epoch's id and, mid-renewal, the next one's.
    let deleted = await store.deleteFile(fileId);
    if (cap.ep !== undefined) for (const ep of [cap.ep, cap.ep + 1]) if (ep >= 1 && ep <= MAX_EPOCH) deleted += await store.deleteFile(epochId(fileId, ep));
    return c.json({ deleted });
  });

  app.route(
    '/',
    renewalRoutes({
      store,
      maxChunkBytes: MAX_CHUNK_BYTES,
      authorize: async (authorization, op, fileId, index) => {
        const cap = await verifyCapability(authorization, deps.keys, deps.relayId);
        requireScope(cap, op, fileId, index);
        return cap;
      }
    })
  );
  // Repair by relays (issue #16): routes and ops in their own module.
  mountRepair(app, { store, authorize, maxChunkBytes: MAX_CHUNK_BYTES });

  const methodNotAllowed = (allow: string) => (c: Context<Env>) => {
    c.header('Allow', allow);
    return c.json(new KofnError('METHOD_NOT_ALLOWED', 'Method not allowed here.').toJSON(), 405);
  };
  app.all(CHUNK, methodNotAllowed('GET, HEAD, PUT, DELETE, OPTIONS'));
  app.all('/v1/files/:fileId/chunks', methodNotAllowed('GET, OPTIONS'));
  app.all('/v1/files/:fileId', methodNotAllowed('DELETE, OPTIONS'));
  app.all('/v1/health', methodNotAllowed('GET, HEAD, OPTIONS'));
  app.all('/v1/ping', methodNotAllowed('GET, HEAD, OPTIONS'));
  app.all('/v1/ready', methodNotAllowed('GET, HEAD, OPTIONS'));
  if (deps.scrapeToken !== undefined) app.all('/metrics', methodNotAllowed('GET, HEAD, OPTIONS'));

  app.notFound((c) => c.json(new KofnError('NOT_FOUND', 'No such route.').toJSON(), 404));

  app.onError((err, c) => {
    const { status, body, known } = toHttpError(err);
    if (!known) deps.log?.error({ reqId: c.get('requestId'), err: { name: err.name, message: err.message } }, 'unhandled relay error');
    return c.json(body, status as 400);
  });

  // Served by a Node server (serve() with `createServer: relayServer(app)`), chunk PUTs and GETs skip Hono.
  fastPaths.set(app, (fallback) =>
    fastChunkListener({ relayId: deps.relayId, keys: deps.keys, store, gate, origins: allowed, maxChunkBytes: MAX_CHUNK_BYTES, log: deps.log, metrics: deps.metrics }, fallback)
  );
  // Chunk bytes go in and out through Node's own streams, not Web streams (node-io.ts).
  return withNodeBodies(app);
}

const fastPaths = new WeakMap<object, (fallback: RequestListener) => RequestListener>();

/**
 * `createServer` for @hono/node-server's `serve()`: a node:http server that answers chunk PUTs and GETs
 * through the fast path (fast-chunks.ts) and everything else through the adapter and Hono. An app not made
 * by `createApp` is served by the adapter alone.
 */
export function relayServer(app: object): typeof createServer {
  return createServerWith(fastPaths.get(app));
}
