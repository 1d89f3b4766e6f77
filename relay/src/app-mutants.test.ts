/**
 * The routes module (app.ts) as Stryker mutates it (issue #24): what its middleware and route table add to
 * every answer, checked value for value. Every test builds its own app inside the test, never in a
 * `beforeAll`: most of app.ts runs while `createApp` assembles the app, and Stryker (coverageAnalysis
 * "perTest") credits that code only to the tests during which it ran, so a mutant of the route table or of
 * a middleware's options is tested only by tests that called `createApp` themselves.
 *
 *   - the request log's duration (performance.now() held by the test), the metrics middleware's counts;
 *   - the security headers, CORS (preflight and simple requests) and Timing-Allow-Origin, exactly;
 *   - the ping, list and whole-file delete routes, and which store ids a whole-file delete clears;
 *   - the messages of malformed path parameters, and each route's 405 with its Allow header;
 *   - the request gate: a PUT whose body the test holds keeps the one slot, so the next file request is
 *     refused with 429 and Retry-After (before its token is looked at), and the slot is given back after
 *     an answer, refusals included. Held by a body stream the test controls: no sleeps, no polling.
 */
import { describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_EPOCH } from '@kofn/shared';
import { createApp, type RelayLog } from './app.js';
import { loadConfig } from './config.js';
import { EXPOSE_HEADERS, SECURITY_HEADERS } from './fast-chunks.js';
import { createRelayMetrics, type RelayMetrics } from './metrics.js';
import { epochId } from './renewal.js';
import { RETRY_AFTER_S } from './server-limits.js';
import { DiskStore } from './storage/disk.js';
import { ORIGIN, RELAY_ID } from './testing/app.js';
import { makeSigner } from './testing/tokens.js';
import { newFileId, shareChunk, storeChunkAt } from './testing/chunks.js';

const SCRAPE_TOKEN = 'scrape-token-for-app-mutants-0123';

interface LogLine {
  level: 'info' | 'warn' | 'error';
  obj: object;
  msg: string;
}

/** A disk store that records the storage ids its whole-file deletes were asked for. */
class RecordingStore extends DiskStore {
  readonly deletedFiles: string[] = [];

  /** Chunks whose bytes were opened (`get`), as "storageId/index". */
  readonly opened: string[] = [];

  override async deleteFile(fileId: string): Promise<number> {
    this.deletedFiles.push(fileId);
    return super.deleteFile(fileId);
  }

  override async get(...args: Parameters<DiskStore['get']>): ReturnType<DiskStore['get']> {
    this.opened.push(`${args[0]}/${args[1]}`);
    return super.get(...args);
  }
}

interface RelayOptions {
  maxRequests?: number;
  metrics?: RelayMetrics;
  scrapeToken?: string;
}

/** A relay app on a fresh disk store (the configured web origin is ORIGIN), with its log lines and signer. */
async function relay(opts: RelayOptions = {}) {
  const root = mkdtempSync(join(tmpdir(), 'kofn-relay-mut-'));
  const config = loadConfig(undefined, { KOFN_RELAY_NAME: 'relay-mut', KOFN_RELAY_LOCATION: 'Bench', KOFN_RELAY_DATA: root, KOFN_WEB_ORIGINS: ORIGIN });
  const store = new RecordingStore(root);
  await store.init();
  const signer = await makeSigner(RELAY_ID);
  const lines: LogLine[] = [];
  const log: RelayLog = {
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg })
  };
  const app = createApp({ config, relayId: RELAY_ID, store, keys: signer.publicKey, log, ...opts });
  return { app, store, signer, lines };
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const headersOf = (res: Response, names: string[]) => Object.fromEntries(names.map((n) => [n, res.headers.get(n)]));

/**
 * A request body that gives nothing until `release()`: `reading` settles when the relay first asks for
 * bytes (highWaterMark 0: the stream pulls only when read), i.e. once the request is past the gate and its
 * token check and is being stored.
 */
function heldBody(bytes: Uint8Array) {
  let reading!: () => void;
  let release!: () => void;
  const started = new Promise<void>((r) => (reading = r));
  const released = new Promise<void>((r) => (release = r));
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        reading();
        await released;
        controller.enqueue(bytes);
        controller.close();
      }
    },
    { highWaterMark: 0 }
  );
  return { stream, reading: started, release };
}

describe('path parameters', () => {
  it('names what is wrong with a malformed file id or chunk index (400 BAD_REQUEST)', async () => {
    const { app } = await relay();
    const badId = await app.request('/v1/files/NOT-A-FILE-ID/chunks/1');
    expect([badId.status, await badId.json()]).toEqual([400, { error: { code: 'BAD_REQUEST', message: 'File id must be 32 lowercase hex digits.' } }]);
    const badIndex = await app.request(`/v1/files/${newFileId()}/chunks/x1`);
    expect([badIndex.status, await badIndex.json()]).toEqual([400, { error: { code: 'BAD_REQUEST', message: 'Chunk index must be an integer 0..4294967294.' } }]);
  });
});

describe('the request log and metrics', () => {
  it("logs each request's duration in whole milliseconds, from before the routes ran to after", async () => {
    const { app, lines } = await relay();
    // The request's start is the first reading of the clock; every later one is its end.
    let readings = 0;
    const now = vi.spyOn(performance, 'now').mockImplementation(() => (readings++ === 0 ? 5000.2 : 5042.6));
    let res: Response;
    try {
      res = await app.request('/v1/ping', { headers: { 'X-Request-Id': 'ping-42' } });
    } finally {
      now.mockRestore();
    }
    expect(res.status).toBe(204);
    expect(lines).toEqual([{ level: 'info', msg: 'request', obj: { reqId: 'ping-42', method: 'GET', path: '/v1/ping', status: 204, ms: 42 } }]);
  });

  it('counts every answer by route, method and status', async () => {
    const metrics = createRelayMetrics();
    const { app } = await relay({ metrics, scrapeToken: SCRAPE_TOKEN });
    expect((await app.request('/v1/ping')).status).toBe(204);
    expect((await app.request(`/v1/files/${newFileId()}/chunks`)).status).toBe(401);
    const { values } = await metrics.requests.get();
    expect(values.map((v) => [v.labels, v.value])).toEqual([
      [{ route: '/v1/ping', method: 'GET', status: '204' }, 1],
      [{ route: '/v1/files/:fileId/chunks', method: 'GET', status: '401' }, 1]
    ]);
  });
});

describe('headers on every answer', () => {
  it('sends the security headers (no framing, sniffing or running; readable cross-origin) on file routes and public ones', async () => {
    const { app } = await relay();
    const names = Object.keys(SECURITY_HEADERS).map((n) => n.toLowerCase());
    for (const res of [await app.request(`/v1/files/${newFileId()}/chunks`), await app.request('/v1/ping'), await app.request('/v1/health')]) {
      expect(headersOf(res, ['content-security-policy', 'cross-origin-resource-policy'])).toEqual({
        'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
        'cross-origin-resource-policy': 'cross-origin'
      });
      // The fast path (fast-chunks.ts) sends this same set; fast-chunks.test.ts compares the two.
      expect(headersOf(res, names)).toEqual(Object.fromEntries(Object.entries(SECURITY_HEADERS).map(([n, v]) => [n.toLowerCase(), v])));
    }
  });

  it('answers a preflight from the web origin with exactly the methods, headers and max age allowed', async () => {
    const { app } = await relay();
    const res = await app.request(`/v1/files/${newFileId()}/chunks/3`, {
      method: 'OPTIONS',
      headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'authorization, content-type, x-extra' }
    });
    expect(res.status).toBe(204);
    expect(headersOf(res, ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-max-age', 'access-control-expose-headers', 'vary'])).toEqual({
      'access-control-allow-origin': ORIGIN,
      'access-control-allow-methods': 'GET,HEAD,PUT,DELETE,OPTIONS',
      'access-control-allow-headers': 'Authorization,Content-Type,X-Request-Id',
      'access-control-max-age': '600',
      'access-control-expose-headers': EXPOSE_HEADERS.join(','),
      vary: 'Origin, Access-Control-Request-Headers'
    });
  });

  it('grants CORS and Timing-Allow-Origin on file routes to the web origin only', async () => {
    const { app } = await relay();
    const names = ['access-control-allow-origin', 'access-control-expose-headers', 'timing-allow-origin', 'vary'];
    const path = `/v1/files/${newFileId()}/chunks`;
    const ours = await app.request(path, { headers: { Origin: ORIGIN } });
    expect([ours.status, headersOf(ours, names)]).toEqual([
      401,
      { 'access-control-allow-origin': ORIGIN, 'access-control-expose-headers': 'X-Request-Id,X-Kofn-Digest,Content-Length,Retry-After', 'timing-allow-origin': ORIGIN, vary: 'Origin' }
    ]);
    const other = await app.request(path, { headers: { Origin: 'http://elsewhere.example' } });
    expect([other.status, headersOf(other, names)]).toEqual([
      401,
      { 'access-control-allow-origin': null, 'access-control-expose-headers': 'X-Request-Id,X-Kofn-Digest,Content-Length,Retry-After', 'timing-allow-origin': null, vary: 'Origin' }
    ]);
    const preflight = await app.request(path, { method: 'OPTIONS', headers: { Origin: 'http://elsewhere.example', 'Access-Control-Request-Method': 'GET' } });
    expect([preflight.status, preflight.headers.get('access-control-allow-origin')]).toEqual([204, null]);
  });
});

describe('routes', () => {
  it('ping: an empty 204 that is never cached', async () => {
    const { app } = await relay();
    const res = await app.request('/v1/ping');
    expect([res.status, res.headers.get('cache-control'), await res.text()]).toEqual([204, 'no-store', '']);
  });

  it('list: the chunks of the file the list token names, with sizes and digests', async () => {
    const { app, store, signer } = await relay();
    const fid = newFileId();
    const c2 = await storeChunkAt(store, fid, fid, 2, 30);
    const res = await app.request(`/v1/files/${fid}/chunks`, { headers: bearer(await signer.mint({ fid, op: 'list' })) });
    expect([res.status, await res.json()]).toEqual([200, { fileId: fid, chunks: [{ index: 2, size: c2.length, digest: sha(c2) }] }]);
  });

  it('HEAD of a chunk: its size and digest without opening its bytes; a missing chunk is a bare 404', async () => {
    const { app, store, signer } = await relay();
    const fid = newFileId();
    const c1 = await storeChunkAt(store, fid, fid, 1, 40);
    const head = (index: number) => signer.mint({ fid, op: 'get', chunks: [index, index] }).then((t) => app.request(`/v1/files/${fid}/chunks/${index}`, { method: 'HEAD', headers: bearer(t) }));
    const found = await head(1);
    expect([found.status, headersOf(found, ['content-length', 'x-kofn-digest', 'cache-control']), await found.text()]).toEqual([
      200,
      { 'content-length': String(c1.length), 'x-kofn-digest': sha(c1), 'cache-control': 'no-store' },
      ''
    ]);
    const missing = await head(2);
    expect([missing.status, missing.headers.get('content-type'), await missing.text()]).toEqual([404, null, '']);
    // A HEAD answered through GET would have opened the chunk (read it whole, to drop it).
    expect(store.opened).toEqual([]);
    const got = await app.request(`/v1/files/${fid}/chunks/1`, { headers: bearer(await signer.mint({ fid, op: 'get', chunks: [1, 1] })) });
    expect([got.status, Buffer.from(await got.arrayBuffer()).equals(Buffer.from(c1))]).toEqual([200, true]);
    expect(store.opened).toEqual([`${fid}/1`]);
  });

  it('whole-file delete: the file, and with an epoch in the token that epoch and the next, each store id once', async () => {
    const { app, store, signer } = await relay();
    const fid = newFileId();
    await storeChunkAt(store, fid, fid, 0);
    await storeChunkAt(store, fid, fid, 1);
    await storeChunkAt(store, epochId(fid, 1), fid, 1);
    const del = async (ep?: number) => {
      store.deletedFiles.length = 0;
      const token = await signer.mint({ fid, op: 'delete_file', ...(ep === undefined ? {} : { ep }) });
      const res = await app.request(`/v1/files/${fid}`, { method: 'DELETE', headers: bearer(token) });
      return [res.status, (await res.json()) as unknown, [...store.deletedFiles]];
    };
    // Epoch 0 is the file id itself: cleared once (a second pass could remove a chunk put in between).
    expect(await del(0)).toEqual([200, { deleted: 3 }, [fid, epochId(fid, 1)]]);
    await storeChunkAt(store, fid, fid, 4);
    expect(await del()).toEqual([200, { deleted: 1 }, [fid]]);
    await storeChunkAt(store, epochId(fid, MAX_EPOCH), fid, 1);
    expect(await del(MAX_EPOCH)).toEqual([200, { deleted: 1 }, [fid, epochId(fid, MAX_EPOCH)]]);
  });

  it("answers each route's other methods with 405 METHOD_NOT_ALLOWED and its Allow header", async () => {
    const { app } = await relay({ metrics: createRelayMetrics(), scrapeToken: SCRAPE_TOKEN });
    const fid = newFileId();
    const cases: Array<[string, string, string]> = [
      ['POST', `/v1/files/${fid}/chunks/1`, 'GET, HEAD, PUT, DELETE, OPTIONS'],
      ['POST', `/v1/files/${fid}/chunks`, 'GET, OPTIONS'],
      ['PUT', `/v1/files/${fid}/chunks`, 'GET, OPTIONS'],
      ['GET', `/v1/files/${fid}`, 'DELETE, OPTIONS'],
      ['POST', `/v1/files/${fid}`, 'DELETE, OPTIONS'],
      ['POST', '/v1/health', 'GET, HEAD, OPTIONS'],
      ['DELETE', '/v1/ping', 'GET, HEAD, OPTIONS'],
      ['POST', '/v1/ready', 'GET, HEAD, OPTIONS'],
      ['POST', '/metrics', 'GET, HEAD, OPTIONS']
    ];
    for (const [method, path, allow] of cases) {
      const res = await app.request(path, { method });
      expect([method, path, res.status, res.headers.get('allow'), await res.json()]).toEqual([
        method,
        path,
        405,
        allow,
        { error: { code: 'METHOD_NOT_ALLOWED', message: 'Method not allowed here.' } }
      ]);
    }
  });
});

describe('the request gate (maxRequests)', () => {
  it('refuses file requests with 429 and Retry-After while the slots are taken, before any token check, and gives each slot back', async () => {
    const { app, signer } = await relay({ maxRequests: 1 });
    const fid = newFileId();
    const bytes = shareChunk(fid, 1, 64);
    const body = heldBody(bytes);
    const put = app.request(`/v1/files/${fid}/chunks/1`, {
      method: 'PUT',
      body: body.stream,
      duplex: 'half',
      headers: bearer(await signer.mint({ fid, op: 'put', chunks: [1, 1] }))
    } as RequestInit);
    // The PUT holds the only slot: it is past the gate and its token, reading its body.
    await body.reading;
    const listToken = await signer.mint({ fid, op: 'list' });
    for (const headers of [bearer(listToken), {}]) {
      const busy = await app.request(`/v1/files/${fid}/chunks`, { headers });
      expect([busy.status, busy.headers.get('retry-after'), await busy.json()]).toEqual([
        429,
        String(RETRY_AFTER_S),
        { error: { code: 'RATE_LIMITED', message: 'The storage server is busy; try again shortly.' } }
      ]);
    }
    // Only file requests take slots; a preflight is answered whatever the load.
    expect((await app.request('/v1/ping')).status).toBe(204);
    const preflight = await app.request(`/v1/files/${fid}/chunks/2`, { method: 'OPTIONS', headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'PUT' } });
    expect(preflight.status).toBe(204);

    body.release();
    const stored = await put;
    expect([stored.status, await stored.json()]).toEqual([201, { index: 1, size: bytes.length, digest: sha(bytes), created: true }]);
    // The slot came back, and a refused request (401: an error thrown inside the gate) gives its own back too.
    for (let i = 0; i < 3; i++) expect((await app.request(`/v1/files/${fid}/chunks`)).status).toBe(401);
    const listed = await app.request(`/v1/files/${fid}/chunks`, { headers: bearer(listToken) });
    expect([listed.status, await listed.json()]).toEqual([200, { fileId: fid, chunks: [{ index: 1, size: bytes.length, digest: sha(bytes) }] }]);
  });

  it('refuses every file request when no slot is configured, and never the public routes', async () => {
    const { app } = await relay({ maxRequests: 0 });
    const res = await app.request(`/v1/files/${newFileId()}/chunks/0`);
    expect([res.status, res.headers.get('retry-after'), ((await res.json()) as { error: { code: string } }).error.code]).toEqual([429, String(RETRY_AFTER_S), 'RATE_LIMITED']);
    expect((await app.request('/v1/ping')).status).toBe(204);
  });
});
