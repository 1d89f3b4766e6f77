/**
 * The coordinator's Prometheus metrics (issue #22), served on GET /metrics to a scraper presenting the
 * scrape token (KOFN_METRICS_TOKEN; without one the route answers 404). Names follow Prometheus
 * conventions (https://prometheus.io/docs/practices/naming/): `kofn_` prefix, base units, `_total` on
 * counters; route labels are SvelteKit route ids (`/api/files/[id]/tokens`), never paths, so no file id
 * or user input becomes a series.
 *
 * Two kinds of metric:
 *   - this process's own: HTTP requests by route, method and status, their duration and bytes, and job
 *     runs by kind and outcome (every replica counts its own; Prometheus sums replicas);
 *   - the cluster's state, read from the database at scrape time (the same answer from every replica):
 *     jobs by kind and state, relays online/offline by lifecycle, file health by state, files due for
 *     renewal, and renewal and repair outcomes so far. Each query is bounded by SCRAPE_QUERY_TIMEOUT_MS.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { and, count, eq, inArray, isNull, lt, or, sql } from 'drizzle-orm';
import type { Db } from './db/index.js';
import { files, history, jobs, shareHealth } from './db/schema.js';
import { listRelays } from './relays.js';
import type { JobHandler } from './jobs.js';

/** A scrape token shorter than this is refused at start (config.ts): it would be guessable. */
export const MIN_SCRAPE_TOKEN_LENGTH = 16;
/** Largest Authorization header looked at on /metrics. */
const MAX_AUTHORIZATION = 512;
/** A database answer a scrape waits for; past it the scrape fails rather than piling up behind a slow database. */
export const SCRAPE_QUERY_TIMEOUT_MS = 5000;
/**
 * How often the event-loop lag is sampled for the process metrics. prom-client's default (10 ms) wakes an idle
 * process 100 times a second (strace: some 2,000 epoll waits in 10 s on an idle relay and coordinator alike),
 * which cost an idle process about 0.5% of a core; at 100 ms the lag histogram still shows any stall that
 * matters to a client (the request timeouts are seconds).
 */
const EVENT_LOOP_SAMPLE_MS = 100;

export interface MetricsOptions {
  db: Db;
  relayOfflineAfterMs: number;
  renewalMs: number;
  /** Process metrics (CPU, heap, event loop): the real process only; tests make several registries. */
  processMetrics?: boolean;
}

export interface CoordinatorMetrics {
  registry: Registry;
  /** Records one answered request (hooks.server.ts). */
  observeRequest: (r: { route: string | null; method: string; status: number; seconds: number; requestBytes: number; responseBytes: number }) => void;
  /** The job handlers, each run counted and timed by kind and outcome. */
  instrumentHandlers: (handlers: Record<string, JobHandler>) => Record<string, JobHandler>;
}

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`metrics: ${what} took over ${SCRAPE_QUERY_TIMEOUT_MS} ms`)), SCRAPE_QUERY_TIMEOUT_MS);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export function createCoordinatorMetrics(opts: MetricsOptions): CoordinatorMetrics {
  const { db } = opts;
  const registry = new Registry();
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'kofn_coordinator_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const registers = [registry];

  const requests = new Counter({ name: 'kofn_http_requests_total', help: 'HTTP requests answered, by route id, method and status.', labelNames: ['route', 'method', 'status'], registers });
  const duration = new Histogram({
    name: 'kofn_http_request_duration_seconds',
    help: 'HTTP request handling time, by route id and method.',
    labelNames: ['route', 'method'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers
  });
  const requestBytes = new Counter({ name: 'kofn_http_request_bytes_total', help: 'Request body bytes declared by Content-Length, by route id.', labelNames: ['route'], registers });
  const responseBytes = new Counter({ name: 'kofn_http_response_bytes_total', help: 'Response body bytes declared by Content-Length, by route id.', labelNames: ['route'], registers });
  const jobRuns = new Counter({ name: 'kofn_job_runs_total', help: 'Jobs run by this process, by kind and outcome (ok, error).', labelNames: ['kind', 'outcome'], registers });
  const jobSeconds = new Histogram({
    name: 'kofn_job_run_seconds',
    help: 'Job run time in this process, by kind.',
    labelNames: ['kind'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
    registers
  });

  new Gauge({
    name: 'kofn_jobs',
    help: 'Jobs in the queue (all replicas), by kind and state (pending, running, done, failed).',
    labelNames: ['kind', 'state'],
    registers,
    async collect() {
      const rows = await bounded(db.select({ kind: jobs.kind, state: jobs.status, n: count() }).from(jobs).groupBy(jobs.kind, jobs.status), 'jobs');
      this.reset();
      for (const r of rows) this.set({ kind: r.kind, state: r.state }, r.n);
    }
  });
  new Gauge({
    name: 'kofn_relays',
    help: 'Registered relays, by status (online: a heartbeat within the offline period) and lifecycle.',
    labelNames: ['status', 'lifecycle'],
    registers,
    async collect() {
      const relays = await bounded(listRelays(db, new Date(), opts.relayOfflineAfterMs), 'relays');
      this.reset();
      for (const status of ['online', 'offline']) this.set({ status, lifecycle: 'active' }, 0);
      for (const r of relays) this.inc({ status: r.status === 'online' ? 'online' : 'offline', lifecycle: r.lifecycle });
    }
  });
  new Gauge({
    name: 'kofn_share_health',
    help: 'Shares of available files by their last check (ok, missing, damaged, unreachable).',
    labelNames: ['state'],
    registers,
    async collect() {
      const rows = await bounded(db.select({ state: shareHealth.state, n: count() }).from(shareHealth).groupBy(shareHealth.state), 'share health');
      this.reset();
      for (const r of rows) this.set({ state: r.state }, r.n);
    }
  });
  new Gauge({
    name: 'kofn_renewal_files',
    help: 'Available files by renewal state: due (shares older than the renewal period) or current.',
    labelNames: ['state'],
    registers,
    async collect() {
      const cutoff = new Date(Date.now() - opts.renewalMs);
      const due = or(lt(files.lastRenewalAt, cutoff), and(isNull(files.lastRenewalAt), lt(files.createdAt, cutoff)));
      const [row] = await bounded(
        db
          .select({ due: sql<number>`count(*) filter (where ${due})`.mapWith(Number), all: count() })
          .from(files)
          .where(eq(files.status, 'available')),
        'renewal state'
      );
      this.set({ state: 'due' }, row?.due ?? 0);
      this.set({ state: 'current' }, (row?.all ?? 0) - (row?.due ?? 0));
    }
  });
  new Gauge({
    name: 'kofn_maintenance_operations',
    help: 'Renewals and repairs recorded so far (all replicas), by operation (renew, repair) and result.',
    labelNames: ['operation', 'result'],
    registers,
    async collect() {
      const rows = await bounded(
        db
          .select({ operation: history.operation, result: history.result, n: count() })
          .from(history)
          .where(inArray(history.operation, ['renew', 'repair']))
          .groupBy(history.operation, history.result),
        'maintenance history'
      );
      this.reset();
      for (const operation of ['renew', 'repair']) this.set({ operation, result: 'ok' }, 0);
      for (const r of rows) this.set({ operation: r.operation, result: r.result }, r.n);
    }
  });

  return {
    registry,
    observeRequest(r) {
      // Paths no route matched share one label: a scanner's junk paths must not make new series.
      const route = r.route ?? 'unmatched';
      requests.inc({ route, method: r.method, status: String(r.status) });
      duration.observe({ route, method: r.method }, r.seconds);
      if (r.requestBytes > 0) requestBytes.inc({ route }, r.requestBytes);
      if (r.responseBytes > 0) responseBytes.inc({ route }, r.responseBytes);
    },
    instrumentHandlers(handlers) {
      return Object.fromEntries(
        Object.entries(handlers).map(([kind, handler]): [string, JobHandler] => [
          kind,
          async (payload, job) => {
            const end = jobSeconds.startTimer({ kind });
            try {
              await handler(payload, job);
              jobRuns.inc({ kind, outcome: 'ok' });
            } catch (err) {
              jobRuns.inc({ kind, outcome: 'error' });
              throw err;
            } finally {
              end();
            }
          }
        ])
      );
    }
  };
}

/** Content-Length as a number, or 0 when absent or not a plain decimal. */
export function declaredBytes(raw: string | null): number {
  return raw && /^\d{1,15}$/.test(raw) ? Number(raw) : 0;
}

/**
 * Whether `authorization` carries the scrape token. Both sides are hashed first, so the comparison takes
 * the same time whatever the guess's length (timingSafeEqual needs equal lengths).
 */
export function scrapeAuthorized(authorization: string | null, token: string): boolean {
  if (authorization === null || authorization.length > MAX_AUTHORIZATION) return false;
  const m = /^Bearer ([!-~]+)$/i.exec(authorization);
  if (!m) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
}
