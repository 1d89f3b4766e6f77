/**
 * Share-chunk bytes through Node's own streams (node-io.ts) on a real loopback server: the same bytes and
 * the same headers as the app answers through Web streams (`app.request()`), the token still checked
 * before any body byte is read, and no file handle left open by clients that go away mid-answer.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER_BYTES } from '@kofn/shared';
import { ORIGIN, testRelay } from './testing/app.js';
import { newFileId, shareChunk } from './testing/chunks.js';
import { listen, rawRequest } from './testing/server.js';

type T = Awaited<ReturnType<typeof testRelay>>;
let t: T;
let server: Awaited<ReturnType<typeof listen>>;
let base: string;
const FID = newFileId();
/** 3 MiB and a little: several network reads in, several file reads out. */
const BODY = 3 * 1024 * 1024 + 17;
const chunk = shareChunk(FID, 1, BODY);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  t = await testRelay();
  server = await listen(t.app);
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server.close();
});

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('PUT and GET of a share chunk over a real socket', () => {
  it('stores the bytes sent, with their SHA-256, and serves them back byte for byte', async () => {
    const token = await t.signer.mint({ fid: FID, op: 'put', chunks: [1, 1], max: BODY + HEADER_BYTES });
    const put = await fetch(`${base}/v1/files/${FID}/chunks/1`, { method: 'PUT', body: chunk, headers: { Authorization: `Bearer ${token}` } });
    expect(put.status).toBe(201);
    expect(await put.json()).toEqual({ index: 1, size: chunk.length, digest: sha256(chunk), created: true });
    expect(readdirSync(join(t.root, 'tmp'))).toEqual([]);

    const get = await fetch(`${base}/v1/files/${FID}/chunks/1`, { headers: { Authorization: `Bearer ${await t.signer.mint({ fid: FID, op: 'get', chunks: [1, 1] })}` } });
    expect(get.status).toBe(200);
    const bytes = new Uint8Array(await get.arrayBuffer());
    expect(bytes.length).toBe(chunk.length);
    expect(Buffer.compare(bytes, chunk)).toBe(0);
    expect(get.headers.get('x-kofn-digest')).toBe(sha256(chunk));
  });

  it('answers GET with every header the app makes (CORS, security headers, request id), as app.request() does', async () => {
    const token = await t.signer.mint({ fid: FID, op: 'get', chunks: [1, 1] });
    const headers = { Authorization: `Bearer ${token}`, Origin: ORIGIN, 'X-Request-Id': 'node-io-1' };
    const viaWeb = await t.app.request(`/v1/files/${FID}/chunks/1`, { headers });
    const viaNode = await fetch(`${base}/v1/files/${FID}/chunks/1`, { headers });
    expect(viaNode.status).toBe(200);
    const expected = [...viaWeb.headers.entries()];
    // The app's own answer names the origin, the request id, the digest and the size: all must go out.
    expect(expected.map(([k]) => k)).toEqual(expect.arrayContaining(['access-control-allow-origin', 'x-request-id', 'x-kofn-digest', 'content-length', 'content-security-policy', 'cache-control']));
    for (const [name, value] of expected) expect([name, viaNode.headers.get(name)]).toEqual([name, value]);
    expect(Buffer.compare(new Uint8Array(await viaNode.arrayBuffer()), new Uint8Array(await viaWeb.arrayBuffer()))).toBe(0);
  });

  it('answers errors on the GET route as JSON through Hono (404 for a missing chunk, 401 without a token)', async () => {
    const missing = await fetch(`${base}/v1/files/${FID}/chunks/2`, { headers: { Authorization: `Bearer ${await t.signer.mint({ fid: FID, op: 'get', chunks: [2, 2] })}` } });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    const anonymous = await fetch(`${base}/v1/files/${FID}/chunks/1`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('TOKEN_MISSING');
  });

  it('refuses a bad token before reading the body: the 401 comes while most of the declared body is unsent', async () => {
    const head = `PUT /v1/files/${FID}/chunks/3 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer a.b.c\r\nContent-Length: ${8 * 1024 * 1024}\r\n\r\n`;
    // 1 KiB of an 8 MiB body, then the client waits: the answer cannot have waited for the rest.
    const r = await rawRequest(server.port, Buffer.concat([Buffer.from(head), Buffer.alloc(1024)]), { timeoutMs: 5000 });
    expect(r.status).toBe(401);
    expect((JSON.parse(r.body) as { error: { code: string } }).error.code).toBe('TOKEN_INVALID');
    expect(await t.store.head(FID, 3)).toBeUndefined();
  });

  it('closes the file of every answer a client abandons midway, and keeps serving', async () => {
    const big = shareChunk(FID, 4, 16 * 1024 * 1024);
    const put = await fetch(`${base}/v1/files/${FID}/chunks/4`, {
      method: 'PUT',
      body: big,
      headers: { Authorization: `Bearer ${await t.signer.mint({ fid: FID, op: 'put', chunks: [4, 4], max: big.length })}` }
    });
    expect(put.status).toBe(201);
    const token = await t.signer.mint({ fid: FID, op: 'get', chunks: [4, 4] });
    const before = openFds();
    // Each client reads the start of the answer (so the file is open and streaming), then vanishes.
    await Promise.all(
      Array.from(
        { length: 6 },
        () =>
          new Promise<void>((done) => {
            const socket = connect(server.port, '127.0.0.1');
            socket.write(`GET /v1/files/${FID}/chunks/4 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`);
            socket.once('data', () => {
              socket.destroy();
              done();
            });
            socket.on('error', () => undefined);
          })
      )
    );
    await expect.poll(openFds, { timeout: 10_000 }).toBeLessThanOrEqual(before);
    const again = await fetch(`${base}/v1/files/${FID}/chunks/4`, { headers: { Authorization: `Bearer ${token}` } });
    expect(again.status).toBe(200);
    expect(sha256(new Uint8Array(await again.arrayBuffer()))).toBe(sha256(big));
  });
});
