/**
 * The relay's operations surface (issue #22): Prometheus metrics and a readiness probe.
 *
 *   GET /metrics     Prometheus text format (prom-client), only with `Authorization: Bearer <scrape token>`
 *                    (KOFN_RELAY_METRICS_TOKEN); without a configured token the route does not exist (404).
 *   GET /v1/ready    200 when the relay can take a chunk now: its spool folder takes a write and its store
 *                    answers a usage query within READY_TIMEOUT_MS; 503 UNAVAILABLE naming the failed check.
 *                    Liveness is the existing GET /v1/ping (does no work) and GET /v1/health.
 *
 * Metric names follow Prometheus conventions (https://prometheus.io/docs/practices/naming/): a
 * `kofn_relay_` prefix, base units (seconds, bytes), `_total` on counters. Labels are the matched route
 * pattern, never the path (a file id in a label would make one series per file, and names files).
 *
 * The hot path gains one middleware (counters after the answer is built) and a store wrapper that times
 * each store call; bytes are read from Content-Length headers, not counted per buffer, so the streaming
 * code (node-io.ts) is untouched. A chunked PUT without Content-Length counts in `stored_bytes` only.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { KofnError, randomHex } from '@kofn/shared';
import type { ChunkStore, Spooled } from './storage/types.js';

/** A scrape token shorter than this is refused at start: it would be guessable. */
export const MIN_SCRAPE_TOKEN_LENGTH = 16;
/** Largest Authorization header looked at on /metrics: a token is at most a few hundred characters. */
const MAX_AUTHORIZATION = 512;
/** How long readiness waits for the store: a probe that hangs is a failed probe. */
export const READY_TIMEOUT_MS = 2000;
/**
 * How often the event-loop lag is sampled for the process metrics. prom-client's default (10 ms) wakes an idle
 * process 100 times a second (strace: some 2,000 epoll waits in 10 s on an idle relay and coordinator alike),
 * which cost an idle process about 0.5% of a core; at 100 ms the lag histogram still shows any stall that
 * matters to a client (the request timeouts are seconds).
 */
const EVENT_LOOP_SAMPLE_MS = 100;

/** Store calls timed by `instrumentStore`. */
type StoreOp = 'commit' | 'head' | 'get' | 'list' | 'delete' | 'deleteFile' | 'usage';

export interface RelayMetrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  requestBytes: Counter<'route'>;
  responseBytes: Counter<'route'>;
  storedBytes: Counter;
  storeSeconds: Histogram<'op' | 'outcome'>;
}

export function createRelayMetrics(opts: { processMetrics?: boolean } = {}): RelayMetrics {
  const registry = new Registry();
  // Process metrics (CPU, heap, event-loop lag) only for the real process: tests make many apps in one.
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'kofn_relay_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  return {
    registry,
    requests: new Counter({
      name: 'kofn_relay_http_requests_total',
      help: 'HTTP requests answered, by matched route, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers: [registry]
    }),
    requestBytes: new Counter({ name: 'kofn_relay_http_request_bytes_total', help: 'Request body bytes declared by Content-Length, by route.', labelNames: ['route'], registers: [registry] }),
    responseBytes: new Counter({ name: 'kofn_relay_http_response_bytes_total', help: 'Response body bytes declared by Content-Length, by route.', labelNames: ['route'], registers: [registry] }),
    storedBytes: new Counter({ name: 'kofn_relay_stored_bytes_total', help: 'Share chunk bytes committed to the store.', registers: [registry] }),
    storeSeconds: new Histogram({
      name: 'kofn_relay_store_seconds',
      help: 'Chunk store call latency, by operation and outcome.',
      labelNames: ['op', 'outcome'],
      // 1 ms (a disk head) to 30 s (a 64 MiB S3 commit on a slow link).
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry]
    })
  };
}

/** Content-Length as a number, or 0 when absent or not a plain decimal (the app refuses those anyway). */
function lengthOf(raw: string | null | undefined): number {
  return raw && /^\d{1,15}$/.test(raw) ? Number(raw) : 0;
}

/** Counts every answer by route pattern (`/v1/files/:fileId/chunks/:index`), method and status. */
export function metricsMiddleware(m: RelayMetrics): MiddlewareHandler {
  return async (c, next) => {
    await next();
    // The last matched route is the handler's pattern; when it is a wildcard middleware's, no route matched
    // (the not-found answer) and every such path shares one label.
    const matched = routePath(c, -1);
    const route = matched.includes('*') ? 'unmatched' : matched;
    m.requests.inc({ route, method: c.req.method, status: String(c.res.status) });
    const inBytes = lengthOf(c.req.header('content-length'));
    if (inBytes > 0) m.requestBytes.inc({ route }, inBytes);
    const outBytes = lengthOf(c.res.headers.get('content-length'));
    if (outBytes > 0) m.responseBytes.inc({ route }, outBytes);
  };
}

/** The store with each call timed (and committed bytes counted); behaviour unchanged. */
export function instrumentStore(store: ChunkStore, m: RelayMetrics): ChunkStore {
  const timed =
    <A extends unknown[], R>(op: StoreOp, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const end = m.storeSeconds.startTimer({ op });
      try {
        const r = await fn(...args);
        end({ outcome: 'ok' });
        return r;
      } catch (err) {
        end({ outcome: 'error' });
        throw err;
      }
    };
  return {
    get kind() {
      return store.kind;
    },
    get spoolDir() {
      return store.spoolDir;
    },
    init: () => store.init(),
    commit: timed('commit', async (fileId: string, index: number, spooled: Spooled) => {
      const r = await store.commit(fileId, index, spooled);
      m.storedBytes.inc(spooled.size);
      return r;
    }),
    head: timed('head', (fileId: string, index: number) => store.head(fileId, index)),
    get: timed('get', (fileId: string, index: number) => store.get(fileId, index)),
    list: timed('list', (fileId: string) => store.list(fileId)),
    delete: timed('delete', (fileId: string, index: number) => store.delete(fileId, index)),
    deleteFile: timed('deleteFile', (fileId: string) => store.deleteFile(fileId)),
    usage: timed('usage', () => store.usage()),
    scrub: () => store.scrub()
  };
}

/**
 * Whether `authorization` carries the scrape token. Both sides are hashed first, so the comparison takes
 * the same time whatever the length of the guess (timingSafeEqual needs equal lengths).
 */
export function scrapeAuthorized(authorization: string | undefined, token: string): boolean {
  if (authorization === undefined || authorization.length > MAX_AUTHORIZATION) return false;
  const m = /^Bearer ([!-~]+)$/i.exec(authorization);
  if (!m) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Readiness checks: each is `ok` or the reason it failed (no paths or errors beyond the code). */
export async function readiness(store: ChunkStore, timeoutMs = READY_TIMEOUT_MS): Promise<{ ready: boolean; checks: Record<string, string> }> {
  const checks: Record<string, string> = {};
  // Every PUT is written to the spool folder first (storage/ingest.ts): if it takes no write, no upload can.
  const probe = join(store.spoolDir, `.ready-${randomHex(8)}`);
  try {
    await withTimeout(
      writeFile(probe, 'ready').then(() => unlink(probe)),
      timeoutMs,
      'the spool folder'
    );
    checks.spool = 'ok';
  } catch (err) {
    checks.spool = `not writable (${(err as NodeJS.ErrnoException).code ?? 'timeout'})`;
  }
  try {
    await withTimeout(store.usage(), timeoutMs, 'the store');
    checks.store = 'ok';
  } catch (err) {
    checks.store = `no answer (${(err as NodeJS.ErrnoException).code ?? (err as Error).name})`;
  }
  return { ready: Object.values(checks).every((v) => v === 'ok'), checks };
}

/** Mounts /metrics (when a scrape token is set) and /v1/ready on the relay app. */
export function mountOps<E extends { Variables: object }>(app: Hono<E>, opts: { metrics: RelayMetrics | undefined; scrapeToken: string | undefined; store: ChunkStore }): void {
  app.get('/v1/ready', async (c: Context<E>) => {
    const r = await readiness(opts.store);
    c.header('Cache-Control', 'no-store');
    if (r.ready) return c.json({ ready: true, checks: r.checks });
    const e = new KofnError('UNAVAILABLE', 'The relay cannot take chunks now.');
    return c.json({ ...e.toJSON(), ready: false, checks: r.checks }, 503);
  });
  const { scrapeToken: token, metrics } = opts;
  if (token === undefined || metrics === undefined) return;
  app.get('/metrics', async (c: Context<E>) => {
    c.header('Cache-Control', 'no-store');
    if (!scrapeAuthorized(c.req.header('authorization'), token)) {
      c.header('WWW-Authenticate', 'Bearer realm="kofn-relay-metrics"');
      return c.json(new KofnError('UNAUTHORIZED', 'A valid scrape token is required.').toJSON(), 401);
    }
    return c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType });
  });
}
