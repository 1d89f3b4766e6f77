import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseScrape } from '@kofn/shared/testing';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { enqueue, runOne } from './jobs.js';
import { createCoordinatorMetrics, scrapeAuthorized, type CoordinatorMetrics } from './metrics.js';
import { readiness } from './readiness.js';
import { loadConfig } from './config.js';

const TOKEN = 'coordinator-scrape-token-0123456789';

describeDatabases('coordinator metrics on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let metrics: CoordinatorMetrics;
  beforeAll(async () => {
    database = await open();
    metrics = createCoordinatorMetrics({ db: database.db, relayOfflineAfterMs: 30_000, renewalMs: 30 * 86_400_000 });
  });
  afterAll(async () => {
    await database.drop();
  });

  const scrape = async () => parseScrape(await metrics.registry.metrics());

  it('exposes every listed metric, and each moves with the work it counts', async () => {
    const before = await scrape();
    for (const name of [
      'kofn_http_requests_total',
      'kofn_http_request_duration_seconds',
      'kofn_http_request_bytes_total',
      'kofn_http_response_bytes_total',
      'kofn_job_runs_total',
      'kofn_job_run_seconds',
      'kofn_jobs',
      'kofn_relays',
      'kofn_share_health',
      'kofn_renewal_files',
      'kofn_maintenance_operations'
    ]) {
      expect(before.names, name).toContain(name);
    }
    expect(before.total('kofn_relays', { status: 'online' })).toBe(0);

    metrics.observeRequest({ route: '/api/files/[id]/tokens', method: 'POST', status: 200, seconds: 0.01, requestBytes: 120, responseBytes: 900 });
    metrics.observeRequest({ route: null, method: 'GET', status: 404, seconds: 0.001, requestBytes: 0, responseBytes: 0 });
    await enqueue(database.db, 'metrics-ok', 'a', {});
    await enqueue(database.db, 'metrics-fail', 'b', {});
    const mid = await scrape();
    expect(mid.total('kofn_jobs', { kind: 'metrics-ok', state: 'pending' })).toBe(1);
    const handlers = metrics.instrumentHandlers({
      'metrics-ok': async () => undefined,
      'metrics-fail': () => Promise.reject(new Error('boom'))
    });
    while (await runOne(database.db, 'metrics-worker', handlers)) {
      // run both
    }

    const after = await scrape();
    expect(after.total('kofn_http_requests_total', { route: '/api/files/[id]/tokens', method: 'POST', status: '200' })).toBe(1);
    // A path no route matched is one series whatever the path.
    expect(after.total('kofn_http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    expect(after.total('kofn_http_request_duration_seconds', { route: '/api/files/[id]/tokens' })).toBe(1);
    expect(after.total('kofn_http_request_bytes_total', { route: '/api/files/[id]/tokens' })).toBe(120);
    expect(after.total('kofn_http_response_bytes_total', { route: '/api/files/[id]/tokens' })).toBe(900);
    expect(after.total('kofn_job_runs_total', { kind: 'metrics-ok', outcome: 'ok' })).toBe(1);
    expect(after.total('kofn_job_runs_total', { kind: 'metrics-fail', outcome: 'error' })).toBe(1);
    expect(after.total('kofn_job_run_seconds', { kind: 'metrics-ok' })).toBe(1);
    expect(after.total('kofn_jobs', { kind: 'metrics-ok', state: 'done' })).toBe(1);
    expect(after.total('kofn_jobs', { kind: 'metrics-ok', state: 'pending' })).toBe(0);
    // The failed job is retried later (backoff): pending again, one attempt counted.
    expect(after.total('kofn_jobs', { kind: 'metrics-fail', state: 'pending' })).toBe(1);
  });

  it('is ready when the database answers and the data folder takes a write; names the failed check otherwise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kofn-ready-'));
    try {
      expect(await readiness(database, dir)).toEqual({ ready: true, checks: { database: 'ok', dataDir: 'ok' } });
      // A real fault: the data folder is a plain file (root ignores permission bits, so chmod would prove nothing).
      const file = join(dir, 'not-a-folder');
      writeFileSync(file, 'x');
      const bad = await readiness(database, file);
      expect(bad.ready).toBe(false);
      expect(bad.checks).toEqual({ database: 'ok', dataDir: expect.stringMatching(/^not writable \((ENOTDIR|EEXIST)\)$/) as string });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeDatabases('readiness of a database that stopped answering, on $name', ({ open }) => {
  it('reports the database check failed, without leaking the error text', async () => {
    const database = await open();
    const dir = mkdtempSync(join(tmpdir(), 'kofn-ready-'));
    try {
      // The real outage for each driver: PGlite closed; PostgreSQL refusing this database's connections.
      await database.close();
      const r = await readiness(database, dir);
      expect(r.ready).toBe(false);
      expect(r.checks.database).toMatch(/^no answer \([A-Z0-9_]+\)$/);
      expect(r.checks.dataDir).toBe('ok');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await database.drop().catch(() => undefined);
    }
  });
});

it('scrape tokens: only the exact bearer token, with bounded and malformed headers refused', () => {
  expect(scrapeAuthorized(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
  expect(scrapeAuthorized(`bearer ${TOKEN}`, TOKEN)).toBe(true);
  for (const header of [null, '', 'Bearer', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`, `Bearer ${TOKEN} `, `Bearer ${'x'.repeat(600)}`]) {
    expect(scrapeAuthorized(header, TOKEN), String(header).slice(0, 40)).toBe(false);
  }
});

it('refuses a short or spaced scrape token at start, with a stable code', () => {
  expect(loadConfig({ KOFN_METRICS_TOKEN: TOKEN }).metricsToken).toBe(TOKEN);
  expect(loadConfig({}).metricsToken).toBeUndefined();
  expect(loadConfig({ KOFN_METRICS_TOKEN: '' }).metricsToken).toBeUndefined();
  for (const bad of ['short', 'has spaces in it 0123456789']) {
    expect(() => loadConfig({ KOFN_METRICS_TOKEN: bad })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  }
});
