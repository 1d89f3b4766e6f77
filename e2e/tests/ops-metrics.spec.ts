/**
 * Metrics and health end to end (issue #22) on a private stack (3 relays, the launcher behind `npm start`)
 * started with scrape tokens: the coordinator's and every relay's /metrics are scraped and parsed before
 * and after a real transfer (the `kofn` CLI protects and retrieves a file), a renewal and a repair, and
 * every listed metric is present and moved. The scrape routes refuse unauthorised, malformed and oversized
 * requests over real HTTP; liveness and readiness answer on both kinds of process.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { APIRequestContext } from '@playwright/test';
import { parseScrape, type Scrape } from '@kofn/shared/testing';
import { ADMIN, expect, test } from '../fixtures.js';
import { startStack, type RunningStack } from '../stack.js';
import { runNode, type NodeRun } from '../run-node.js';

test.describe.configure({ mode: 'serial', timeout: 180_000 });

const COORDINATOR_TOKEN = 'e2e-coordinator-scrape-token-0123456789';
const RELAY_TOKEN = 'e2e-relay-scrape-token-0123456789';
const BIN = resolve(import.meta.dirname, '../../shared/bin/kofn.mjs');

let stack: RunningStack;
let api: APIRequestContext;
let csrf = '';
let work = '';

function kofn(args: string[], input = ''): Promise<NodeRun> {
  return runNode(BIN, args, { env: { KOFN_CONFIG_DIR: join(work, 'config') }, input });
}

async function scrape(url: string, token: string): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`, { headers: { Authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return parseScrape(await res.text());
}
const scrapeCoordinator = () => scrape(stack.url, COORDINATOR_TOKEN);
const scrapeRelays = () => Promise.all(stack.relays.map((u) => scrape(u, RELAY_TOKEN)));
const sumOver = (scrapes: Scrape[], name: string, match?: Record<string, string>) => scrapes.reduce((s, x) => s + x.total(name, match), 0);

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test.beforeAll(async ({ playwright }) => {
  // Starting a stack of its own (a coordinator and relays) can take over a minute on a loaded 2-core machine.
  test.setTimeout(180_000);
  work = mkdtempSync(join(tmpdir(), 'kofn-ops-metrics-'));
  stack = await startStack({ relays: 3, tier: 'Pro', env: { KOFN_METRICS_TOKEN: COORDINATOR_TOKEN, KOFN_RELAY_METRICS_TOKEN: RELAY_TOKEN } });
  api = await playwright.request.newContext({ baseURL: stack.url });
  const setup = await api.post('/api/setup', { data: ADMIN, headers: { Origin: stack.url } });
  expect(setup.status()).toBe(201);
  csrf = ((await setup.json()) as { csrfToken: string }).csrfToken;
});

test.afterAll(async () => {
  await api?.dispose();
  await stack?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('every listed metric is present, and moves during a transfer, a renewal and a repair', async () => {
  const c0 = await scrapeCoordinator();
  const r0 = await scrapeRelays();
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
    'kofn_maintenance_operations',
    'kofn_coordinator_process_cpu_seconds_total'
  ]) {
    expect(c0.names, name).toContain(name);
  }
  for (const r of r0) {
    for (const name of [
      'kofn_relay_http_requests_total',
      'kofn_relay_http_request_bytes_total',
      'kofn_relay_http_response_bytes_total',
      'kofn_relay_stored_bytes_total',
      'kofn_relay_store_seconds',
      'kofn_relay_process_cpu_seconds_total'
    ]) {
      expect(r.names, name).toContain(name);
    }
  }
  expect(c0.total('kofn_relays', { status: 'online' })).toBe(3);

  // A real transfer: the CLI protects a 3 MiB file 2-of-3 and retrieves it byte-identical.
  const login = await kofn(['login', stack.url, '--email', ADMIN.email, '--password-stdin'], `${ADMIN.password}\n`);
  expect(login.code, login.stderr).toBe(0);
  const data = randomBytes(3 * 1024 * 1024 + 7);
  writeFileSync(join(work, 'metrics.bin'), data);
  const up = await kofn(['protect', join(work, 'metrics.bin'), '-k', '2']);
  expect(up.code, up.stderr).toBe(0);
  const down = await kofn(['retrieve', 'metrics.bin', '-o', '-']);
  expect(down.code, down.stderr).toBe(0);
  expect(createHash('sha256').update(down.stdout).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));

  const r1 = await scrapeRelays();
  const chunkRoute = { route: '/v1/files/:fileId/chunks/:index' };
  // Each of the 3 relays stored its share (about the file's size each) and served it back.
  for (const [i, r] of r1.entries()) {
    expect(r.total('kofn_relay_http_requests_total', { ...chunkRoute, method: 'PUT' }) - r0[i]!.total('kofn_relay_http_requests_total', { ...chunkRoute, method: 'PUT' })).toBeGreaterThan(0);
    expect(r.total('kofn_relay_stored_bytes_total') - r0[i]!.total('kofn_relay_stored_bytes_total')).toBeGreaterThanOrEqual(data.length);
    expect(r.total('kofn_relay_store_seconds', { op: 'commit' }) - r0[i]!.total('kofn_relay_store_seconds', { op: 'commit' })).toBeGreaterThan(0);
  }
  expect(sumOver(r1, 'kofn_relay_http_request_bytes_total', chunkRoute) - sumOver(r0, 'kofn_relay_http_request_bytes_total', chunkRoute)).toBeGreaterThanOrEqual(3 * data.length);
  // k = 2 of the 3 shares are enough to retrieve: at least twice the file came out of the relays.
  expect(sumOver(r1, 'kofn_relay_http_response_bytes_total', chunkRoute) - sumOver(r0, 'kofn_relay_http_response_bytes_total', chunkRoute)).toBeGreaterThanOrEqual(2 * data.length);
  expect(sumOver(r1, 'kofn_relay_store_seconds', { op: 'get' }) - sumOver(r0, 'kofn_relay_store_seconds', { op: 'get' })).toBeGreaterThan(0);

  const c1 = await scrapeCoordinator();
  const reserve = { route: '/api/files' };
  expect(c1.total('kofn_http_requests_total', { ...reserve, method: 'POST' }) - c0.total('kofn_http_requests_total', { ...reserve, method: 'POST' })).toBeGreaterThan(0);
  expect(c1.total('kofn_http_request_duration_seconds') - c0.total('kofn_http_request_duration_seconds')).toBeGreaterThan(0);
  expect(c1.total('kofn_http_request_bytes_total') - c0.total('kofn_http_request_bytes_total')).toBeGreaterThan(0);
  expect(c1.total('kofn_http_response_bytes_total') - c0.total('kofn_http_response_bytes_total')).toBeGreaterThan(0);
  expect(c1.total('kofn_renewal_files', { state: 'current' }) - c0.total('kofn_renewal_files', { state: 'current' })).toBe(1);

  // Repair (#16): relay-1 loses the file's share; a check finds it missing and the repair job rebuilds it.
  const { files } = (await (await api.get('/api/files')).json()) as { files: Array<{ id: string; name: string }> };
  const id = files.find((f) => f.name === 'metrics.bin')!.id;
  rmSync(join(stack.relayProcs[0]!.dataDir, 'chunks', id.slice(0, 2)), { recursive: true, force: true });
  const check = await api.post(`/api/files/${id}/health`, { headers: { Origin: stack.url, 'X-CSRF-Token': csrf } });
  expect(check.status()).toBe(200);
  await waitUntil('the repair to finish', async () => (await scrapeCoordinator()).total('kofn_maintenance_operations', { operation: 'repair', result: 'ok' }) >= 1);
  const c3 = await scrapeCoordinator();
  expect(c3.total('kofn_job_runs_total', { kind: 'repair-share', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
  expect(c3.total('kofn_share_health', { state: 'ok' })).toBe(3);
  expect(c3.total('kofn_jobs', { kind: 'repair-share', state: 'done' })).toBeGreaterThanOrEqual(1);

  // Renewal (#15), after the repair (a renewal moves shares to the next epoch's ids): "renew all now"
  // queues one job; it runs, and the job gauges and counters show it.
  const renew = await api.post('/api/renewals', { headers: { Origin: stack.url, 'X-CSRF-Token': csrf } });
  expect(renew.status()).toBe(200);
  await waitUntil('the renewal to finish', async () => (await scrapeCoordinator()).total('kofn_maintenance_operations', { operation: 'renew', result: 'ok' }) >= 1);
  const c2 = await scrapeCoordinator();
  expect(c2.total('kofn_job_runs_total', { kind: 'renew-file', outcome: 'ok' })).toBe(1);
  expect(c2.total('kofn_job_run_seconds', { kind: 'renew-file' })).toBe(1);
  expect(c2.total('kofn_jobs', { kind: 'renew-file', state: 'done' })).toBe(1);
});

test('the scrape routes refuse unauthorised, malformed and oversized requests, never with a 5xx', async () => {
  const targets = [
    { url: stack.url, token: COORDINATOR_TOKEN },
    { url: stack.relays[0]!, token: RELAY_TOKEN }
  ];
  for (const { url, token } of targets) {
    for (const authorization of [undefined, 'Bearer wrong-token-wrong-token-wrong', `Bearer ${token}0`, `Basic ${Buffer.from(`u:${token}`).toString('base64')}`, `Bearer ${'z'.repeat(4000)}`]) {
      const res = await fetch(`${url}/metrics`, { headers: authorization ? { Authorization: authorization } : {} });
      expect(res.status, `${url} ${String(authorization).slice(0, 30)}`).toBe(401);
      const text = await res.text();
      expect(text).not.toContain('kofn_');
      expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    }
    // The coordinator's own API tokens are not scrape tokens, and a scrape token is no API token.
    const asApi = await fetch(`${url === stack.url ? url : stack.url}/api/files`, { headers: { Authorization: `Bearer ${COORDINATOR_TOKEN}` } });
    expect(asApi.status).toBe(401);
    // Headers past the servers' limits are refused by the HTTP layer (431), not by a crash.
    const huge = await fetch(`${url}/metrics`, { headers: { Authorization: `Bearer ${token}`, 'X-Pad': 'p'.repeat(70_000) } }).catch(() => undefined);
    if (huge) expect(huge.status).toBeGreaterThanOrEqual(400);
    if (huge) expect(huge.status).toBeLessThan(500);
    // Writes are not scrapes.
    const post = await fetch(`${url}/metrics`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, Origin: url }, body: 'x' });
    expect(post.status).toBeGreaterThanOrEqual(400);
    expect(post.status).toBeLessThan(500);
  }
});

test('liveness and readiness answer on the coordinator and on every relay', async () => {
  const live = await fetch(`${stack.url}/api/health/live`);
  expect(live.status).toBe(200);
  const ready = await fetch(`${stack.url}/api/health/ready`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({ ready: true, checks: { database: 'ok', dataDir: 'ok' } });
  for (const url of stack.relays) {
    const r = await fetch(`${url}/v1/ready`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ ready: true, checks: { spool: 'ok', store: 'ok' } });
  }
});
