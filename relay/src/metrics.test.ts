import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { DiskStore } from './storage/disk.js';
import { createRelayMetrics, instrumentStore, type RelayMetrics } from './metrics.js';
import { makeSigner, type Signer } from './testing/tokens.js';
import { newFileId, shareChunk } from './testing/chunks.js';
import { parseScrape } from '@kofn/shared/testing';
import { startRelayProcess } from './testing/process.js';
import type { ChunkStore } from './storage/types.js';

const RELAY_ID = '00000000-0000-4000-8000-0000000000ab';
const TOKEN = 'scrape-token-for-tests-0123456789';

let root: string;
let app: ReturnType<typeof createApp>;
let signer: Signer;
let metrics: RelayMetrics;
let store: ChunkStore;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'kofn-relay-metrics-'));
  const config = loadConfig(undefined, { KOFN_RELAY_NAME: 'relay-m', KOFN_RELAY_DATA: root });
  metrics = createRelayMetrics();
  store = instrumentStore(new DiskStore(root), metrics);
  await store.init();
  signer = await makeSigner(RELAY_ID);
  app = createApp({ config, relayId: RELAY_ID, store, keys: signer.publicKey, metrics, scrapeToken: TOKEN });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const scrape = async () => {
  const res = await app.request('/metrics', { headers: { Authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
  return parseScrape(await res.text());
};

describe('GET /metrics on a relay', () => {
  it('counts requests by route pattern and status, bytes in and out, and times the store, during a real PUT and GET', async () => {
    const before = await scrape();
    for (const name of ['kofn_relay_http_requests_total', 'kofn_relay_http_request_bytes_total', 'kofn_relay_http_response_bytes_total', 'kofn_relay_stored_bytes_total', 'kofn_relay_store_seconds']) {
      expect(before.names, name).toContain(name);
    }
    const fid = newFileId();
    const body = shareChunk(fid, 0, 100_000);
    const put = await app.request(`/v1/files/${fid}/chunks/0`, {
      method: 'PUT',
      body,
      headers: { Authorization: `Bearer ${await signer.mint({ fid, op: 'put', chunks: [0, 0] })}`, 'Content-Length': String(body.length) }
    });
    expect(put.status).toBe(201);
    const get = await app.request(`/v1/files/${fid}/chunks/0`, { headers: { Authorization: `Bearer ${await signer.mint({ fid, op: 'get', chunks: [0, 0] })}` } });
    expect(get.status).toBe(200);
    expect((await get.arrayBuffer()).byteLength).toBe(body.length);
    await app.request('/no/such/route');

    const after = await scrape();
    const route = '/v1/files/:fileId/chunks/:index';
    expect(after.total('kofn_relay_http_requests_total', { route, method: 'PUT', status: '201' }) - before.total('kofn_relay_http_requests_total', { route, method: 'PUT', status: '201' })).toBe(1);
    expect(after.total('kofn_relay_http_requests_total', { route, method: 'GET', status: '200' })).toBe(1);
    // A path no route matched is one series, not one per path (no file ids or junk in labels).
    expect(after.total('kofn_relay_http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    expect(after.total('kofn_relay_http_request_bytes_total', { route }) - before.total('kofn_relay_http_request_bytes_total', { route })).toBe(body.length);
    expect(after.total('kofn_relay_http_response_bytes_total', { route }) - before.total('kofn_relay_http_response_bytes_total', { route })).toBe(body.length);
    expect(after.total('kofn_relay_stored_bytes_total') - before.total('kofn_relay_stored_bytes_total')).toBe(body.length);
    expect(after.total('kofn_relay_store_seconds', { op: 'commit', outcome: 'ok' })).toBe(1);
    expect(after.total('kofn_relay_store_seconds', { op: 'get', outcome: 'ok' })).toBe(1);
  });

  it('refuses a scrape without the token, with a wrong one, a malformed or oversized header: 401 UNAUTHORIZED, no metrics', async () => {
    const cases: Array<Record<string, string>> = [
      {},
      { Authorization: 'Bearer not-the-token-at-all-xxxxxxxx' },
      { Authorization: `Bearer ${TOKEN}x` },
      { Authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
      { Authorization: `Bearer ${TOKEN} ${TOKEN}` },
      { Authorization: `Bearer ${'a'.repeat(8000)}` }
    ];
    for (const headers of cases) {
      const res = await app.request('/metrics', { headers });
      expect(res.status, JSON.stringify(headers).slice(0, 80)).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      expect(text).not.toContain('kofn_relay_');
    }
  });

  it('answers 405 to anything but GET, and a scrape with a query string or repeated is the same read-only answer', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await app.request('/metrics', { method, headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(405);
    }
    const a = await app.request('/metrics?name[]=x&%00=1', { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(a.status).toBe(200);
    // Replaying a scrape changes nothing but the scrape counters: the endpoint has no side effect to repeat.
    const b = await app.request('/metrics', { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(b.status).toBe(200);
  });

  it('does not exist when no scrape token is configured', async () => {
    const config = loadConfig(undefined, { KOFN_RELAY_NAME: 'relay-n', KOFN_RELAY_DATA: root });
    const open = createApp({ config, relayId: RELAY_ID, store, keys: signer.publicKey, metrics });
    const res = await open.request('/metrics', { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(404);
  });
});

describe('GET /v1/ready', () => {
  it('is ready when the spool folder takes a write and the store answers; 503 UNAVAILABLE naming the check when not', async () => {
    const ok = await app.request('/v1/ready');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ready: true, checks: { spool: 'ok', store: 'ok' } });
    // A real fault, not a mock: the spool folder is replaced by a plain file (root ignores permission bits).
    rmSync(store.spoolDir, { recursive: true, force: true });
    writeFileSync(store.spoolDir, 'not a folder');
    try {
      const bad = await app.request('/v1/ready');
      expect(bad.status).toBe(503);
      const body = (await bad.json()) as { error: { code: string }; ready: boolean; checks: Record<string, string> };
      expect(body.error.code).toBe('UNAVAILABLE');
      expect(body.ready).toBe(false);
      expect(body.checks.spool).toMatch(/^not writable \(ENOTDIR\)$/);
      expect(body.checks.store).toBe('ok');
    } finally {
      rmSync(store.spoolDir, { force: true });
      await store.init();
    }
    expect((await app.request('/v1/ready')).status).toBe(200);
  });
});

describe('the relay process', () => {
  it('serves process metrics with the token from KOFN_RELAY_METRICS_TOKEN', async () => {
    const relay = await startRelayProcess(RELAY_ID, { KOFN_RELAY_METRICS_TOKEN: TOKEN });
    try {
      const res = await fetch(`${relay.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(200);
      const s = parseScrape(await res.text());
      expect(s.names).toContain('kofn_relay_process_cpu_seconds_total');
      expect(s.names).toContain('kofn_relay_http_requests_total');
      expect((await fetch(`${relay.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${relay.url}/v1/ready`)).status).toBe(200);
    } finally {
      await relay.stop();
    }
  });

  it('refuses to start with a scrape token too short to be secret', async () => {
    await expect(startRelayProcess(RELAY_ID, { KOFN_RELAY_METRICS_TOKEN: 'short' })).rejects.toThrow(/exited early \(1\)/);
  });
});
