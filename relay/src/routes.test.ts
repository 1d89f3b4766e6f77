/**
 * The relay's routes in detail (issue #24: survivors of Stryker on relay/src/app.ts), through
 * `app.request()` on a real disk store with real tokens: the exact headers each answer carries, the byte
 * limit a PUT applies whatever its token says, the epoch a read or a whole-file delete reaches, the Allow
 * header of each route, and what the request log holds (never a token).
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { createHash } from 'node:crypto';
import { MAX_EPOCH } from '@kofn/shared';
import { epochId as epochStorageId } from './renewal.js';
import { createApp, MAX_CHUNK_BYTES, type RelayLog } from './app.js';
import { loadConfig } from './config.js';
import type { DiskStore } from './storage/disk.js';
import { ORIGIN, RELAY_ID, testRelay } from './testing/app.js';
import type { Signer } from './testing/tokens.js';
import { newFileId, shareChunk, storeChunkAt } from './testing/chunks.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
const log: RelayLog = {
  info: (obj, msg) => lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
  warn: (obj, msg) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  error: (obj, msg) => lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg })
};

let app: ReturnType<typeof createApp>;
let store: DiskStore;
let signer: Signer;

beforeAll(async () => {
  ({ app, store, signer } = await testRelay({ name: 'relay-r', location: 'Shelf', log }));
});

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const code = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

/** Stores a chunk straight into the store under a storage id (a renewed epoch's, say). */
const storeAt = (id: string, fileId: string, index: number, bodyLength?: number) => storeChunkAt(store, id, fileId, index, bodyLength);

describe('public routes', () => {
  it('health names this relay, its store and its usage', async () => {
    const res = await app.request('/v1/health');
    const body = (await res.json()) as Record<string, unknown>;
    const usage = await store.usage();
    expect(body).toEqual({ id: RELAY_ID, name: 'relay-r', location: 'Shelf', version: '0.1.0', storage: 'Disk', freeBytes: expect.any(Number), usedBytes: usage.usedBytes });
  });

  it('every answer forbids running, framing and sniffing its bytes, and may be read by the app\u2019s origin', async () => {
    const res = await app.request('/v1/ping', { headers: { Origin: ORIGIN } });
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(res.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(res.headers.get('access-control-expose-headers')).toBe('X-Request-Id,X-Kofn-Digest,Content-Length,Retry-After');
    const pre = await app.request('/v1/ping', {
      method: 'OPTIONS',
      headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'DELETE', 'Access-Control-Request-Headers': 'x-request-id' }
    });
    expect(pre.headers.get('access-control-allow-methods')).toBe('GET,HEAD,PUT,DELETE,OPTIONS');
    expect(pre.headers.get('access-control-allow-headers')).toBe('Authorization,Content-Type,X-Request-Id');
    expect(pre.headers.get('access-control-max-age')).toBe('600');
  });

  it('answers each route\u2019s other methods with 405 and its Allow header, and unknown paths with 404', async () => {
    const fid = newFileId();
    const cases: Array<[string, string, string]> = [
      [`/v1/files/${fid}/chunks/1`, 'POST', 'GET, HEAD, PUT, DELETE, OPTIONS'],
      [`/v1/files/${fid}/chunks`, 'DELETE', 'GET, OPTIONS'],
      [`/v1/files/${fid}`, 'GET', 'DELETE, OPTIONS'],
      ['/v1/health', 'POST', 'GET, HEAD, OPTIONS'],
      ['/v1/ping', 'PUT', 'GET, HEAD, OPTIONS']
    ];
    for (const [path, method, allow] of cases) {
      const res = await app.request(path, { method });
      expect([path, method, res.status, res.headers.get('allow')]).toEqual([path, method, 405, allow]);
      expect(await code(res)).toEqual({ code: 'METHOD_NOT_ALLOWED', message: 'Method not allowed here.' });
    }
    const missing = await app.request('/v1/nothing');
    expect(missing.status).toBe(404);
    expect(await code(missing)).toEqual({ code: 'NOT_FOUND', message: 'No such route.' });
  });
});

describe('PUT limits', () => {
  it('caps a token\u2019s byte limit at the relay\u2019s own, and names the limit applied', async () => {
    const fid = newFileId();
    const tooBig = String(MAX_CHUNK_BYTES + 1);
    for (const max of [undefined, MAX_CHUNK_BYTES * 4]) {
      const token = await signer.mint({ fid, op: 'put', chunks: [1, 1], ...(max === undefined ? {} : { max }) });
      const res = await app.request(`/v1/files/${fid}/chunks/1`, { method: 'PUT', body: 'x', headers: { ...bearer(token), 'Content-Length': tooBig } });
      expect(res.status).toBe(413);
      expect(await code(res)).toEqual({ code: 'PAYLOAD_TOO_LARGE', message: `Share chunk over ${MAX_CHUNK_BYTES} bytes.` });
    }
    const small = await signer.mint({ fid, op: 'put', chunks: [1, 1], max: 100 });
    const body = shareChunk(fid, 1, 60);
    const res = await app.request(`/v1/files/${fid}/chunks/1`, { method: 'PUT', body, headers: { ...bearer(small), 'Content-Length': '101' } });
    expect(await code(res)).toEqual({ code: 'PAYLOAD_TOO_LARGE', message: 'Share chunk over 100 bytes.' });
    // Exactly the token's limit is taken.
    const ok = await app.request(`/v1/files/${fid}/chunks/1`, { method: 'PUT', body, headers: { ...bearer(small), 'Content-Length': '100' } });
    expect(ok.status).toBe(201);
    expect(ok.headers.get('x-kofn-digest')).toBe(sha(body));
    expect(await ok.json()).toEqual({ index: 1, size: 100, digest: sha(body), created: true });
  });

  it('refuses a malformed Content-Length before reading (400 BAD_REQUEST)', async () => {
    const fid = newFileId();
    const token = await signer.mint({ fid, op: 'put', chunks: [1, 1] });
    for (const length of ['1e3', '-1', '0x10', '1234567890123456']) {
      const res = await app.request(`/v1/files/${fid}/chunks/1`, { method: 'PUT', body: 'x', headers: { ...bearer(token), 'Content-Length': length } });
      expect([length, res.status, (await code(res)).message]).toEqual([length, 400, 'Malformed Content-Length.']);
    }
  });
});

describe('reads name their epoch', () => {
  it('GET, HEAD and list read the epoch the token names, and epoch 0 without one', async () => {
    const fid = newFileId();
    const e0 = await storeAt(fid, fid, 1, 20);
    const e3 = await storeAt(epochStorageId(fid, 3), fid, 1, 30);
    const read = async (ep: number | undefined) => {
      const token = await signer.mint({ fid, op: 'get', chunks: [1, 1], ...(ep === undefined ? {} : { ep }) });
      const res = await app.request(`/v1/files/${fid}/chunks/1`, { headers: bearer(token) });
      return new Uint8Array(await res.arrayBuffer());
    };
    expect(sha(await read(undefined))).toBe(sha(e0));
    expect(sha(await read(3))).toBe(sha(e3));
    const head = await app.request(`/v1/files/${fid}/chunks/1`, { method: 'HEAD', headers: bearer(await signer.mint({ fid, op: 'get', chunks: [1, 1], ep: 3 })) });
    expect([head.status, head.headers.get('content-length'), head.headers.get('x-kofn-digest'), head.headers.get('cache-control')]).toEqual([200, String(e3.length), sha(e3), 'no-store']);
    const list = await app.request(`/v1/files/${fid}/chunks`, { headers: bearer(await signer.mint({ fid, op: 'list', chunks: [0, 0], ep: 3 })) });
    expect(await list.json()).toEqual({ fileId: fid, chunks: [{ index: 1, size: e3.length, digest: sha(e3) }] });
    const none = await app.request(`/v1/files/${fid}/chunks/2`, { method: 'HEAD', headers: bearer(await signer.mint({ fid, op: 'get', chunks: [2, 2] })) });
    expect(none.status).toBe(404);
  });

  it('GET answers the bytes as an attachment, never in ranges', async () => {
    const fid = newFileId();
    const bytes = await storeAt(fid, fid, 1);
    const token = await signer.mint({ fid, op: 'get', chunks: [1, 1] });
    const res = await app.request(`/v1/files/${fid}/chunks/1`, { headers: bearer(token) });
    expect(Object.fromEntries(['content-type', 'content-length', 'content-disposition', 'cache-control', 'accept-ranges', 'x-kofn-digest'].map((h) => [h, res.headers.get(h)]))).toEqual({
      'content-type': 'application/octet-stream',
      'content-length': String(bytes.length),
      'content-disposition': 'attachment',
      'cache-control': 'no-store',
      'accept-ranges': 'none',
      'x-kofn-digest': sha(bytes)
    });
    const ranged = await app.request(`/v1/files/${fid}/chunks/1`, { headers: { ...bearer(token), Range: 'bytes=0-9' } });
    expect(await code(ranged)).toEqual({ code: 'RANGE_NOT_SUPPORTED', message: 'Range requests are not supported.' });
    const gone = await app.request(`/v1/files/${fid}/chunks/2`, { headers: bearer(await signer.mint({ fid, op: 'get', chunks: [2, 2] })) });
    expect([gone.status, (await code(gone)).message]).toEqual([404, 'File not found on the servers.']);
  });
});

describe('deletes', () => {
  it('a chunk delete says whether there was a chunk', async () => {
    const fid = newFileId();
    await storeAt(fid, fid, 1);
    const del = () => signer.mint({ fid, op: 'delete', chunks: [1, 1] }).then((t) => app.request(`/v1/files/${fid}/chunks/1`, { method: 'DELETE', headers: bearer(t) }));
    expect(await (await del()).json()).toEqual({ deleted: true });
    expect(await (await del()).json()).toEqual({ deleted: false });
  });

  it('a whole-file delete naming epoch e removes epoch 0, e and e + 1, and nothing of other epochs', async () => {
    const fid = newFileId();
    for (const id of [fid, epochStorageId(fid, 2), epochStorageId(fid, 3), epochStorageId(fid, 4)]) await storeAt(id, fid, 1);
    const token = await signer.mint({ fid, op: 'delete_file', chunks: [0, 0], ep: 2 });
    const res = await app.request(`/v1/files/${fid}`, { method: 'DELETE', headers: bearer(token) });
    expect(await res.json()).toEqual({ deleted: 3 });
    expect((await store.list(epochStorageId(fid, 4))).length).toBe(1);
    expect((await store.list(epochStorageId(fid, 3))).length).toBe(0);
  });

  it('a whole-file delete at epoch 0 reaches epoch 1 too, and at the last epoch stops there', async () => {
    const fid = newFileId();
    await storeAt(fid, fid, 1);
    await storeAt(epochStorageId(fid, 1), fid, 1);
    const at0 = await signer.mint({ fid, op: 'delete_file', chunks: [0, 0], ep: 0 });
    expect(await (await app.request(`/v1/files/${fid}`, { method: 'DELETE', headers: bearer(at0) })).json()).toEqual({ deleted: 2 });
    const last = await signer.mint({ fid, op: 'delete_file', chunks: [0, 0], ep: MAX_EPOCH });
    await storeAt(epochStorageId(fid, MAX_EPOCH), fid, 1);
    expect(await (await app.request(`/v1/files/${fid}`, { method: 'DELETE', headers: bearer(last) })).json()).toEqual({ deleted: 1 });
  });
});

describe('the request log', () => {
  it('has method, path, status, time and the request id of each request, and never its token', async () => {
    const fid = newFileId();
    const token = await signer.mint({ fid, op: 'get', chunks: [1, 1] });
    lines.length = 0;
    await app.request(`/v1/files/${fid}/chunks/1`, { headers: { ...bearer(token), 'X-Request-Id': 'req-42' } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toEqual({ level: 'info', msg: 'request', obj: { reqId: 'req-42', method: 'GET', path: `/v1/files/${fid}/chunks/1`, status: 404, ms: expect.any(Number) } });
    expect(JSON.stringify(lines)).not.toContain(token);
  });

  it('logs an unexpected error (name and message only) and answers a plain 500; a known refusal is not logged as one', async () => {
    const failing = createApp({
      config: loadConfig(undefined, { KOFN_RELAY_NAME: 'relay-f', KOFN_RELAY_DATA: store.root }),
      relayId: RELAY_ID,
      // A stand-in whose usage() fails: a copy of the store's fields is enough for the routes under test.
      // eslint-disable-next-line @typescript-eslint/no-misused-spread
      store: { ...store, kind: 'Disk', spoolDir: store.spoolDir, usage: () => Promise.reject(new TypeError('disk vanished')) } as unknown as DiskStore,
      keys: signer.publicKey,
      log
    });
    lines.length = 0;
    const res = await failing.request('/v1/health', { headers: { 'X-Request-Id': 'req-500' } });
    expect(res.status).toBe(500);
    expect(JSON.stringify(await res.json())).not.toContain('disk vanished');
    expect(lines.filter((l) => l.level === 'error')).toEqual([{ level: 'error', msg: 'unhandled relay error', obj: { reqId: 'req-500', err: { name: 'TypeError', message: 'disk vanished' } } }]);
    lines.length = 0;
    await app.request('/v1/files/x/chunks/1', { headers: { 'X-Request-Id': 'req-400' } });
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});
