/**
 * Hostile and malformed requests: every one gets a 4xx with a stable JSON error code (never a 5xx), and
 * no byte is written outside the data root (nor left in its spool folder).
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, generateKeyPair, exportJWK } from 'jose';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { DiskStore } from './storage/disk.js';
import { makeSigner, type Signer } from './testing/tokens.js';
import { newFileId, shareChunk } from './testing/chunks.js';
import { listen, rawRequest } from './testing/server.js';
import { RELAY_ID, ORIGIN } from './testing/app.js';
import { HEADER_BYTES, TOKEN_ISSUER } from '@kofn/shared';

const parent = mkdtempSync(join(tmpdir(), 'kofn-bad-'));
const root = join(parent, 'data');
mkdirSync(join(parent, 'outside'));
writeFileSync(join(parent, 'outside', 'sentinel'), 'x');
const store = new DiskStore(root);
let signer: Signer;
let app: ReturnType<typeof createApp>;
let server: Awaited<ReturnType<typeof listen>>;
const FID = newFileId();

beforeAll(async () => {
  await store.init();
  signer = await makeSigner(RELAY_ID);
  const config = loadConfig(undefined, { KOFN_RELAY_NAME: 'bad', KOFN_RELAY_DATA: root, KOFN_WEB_ORIGINS: ORIGIN });
  app = createApp({ config, relayId: RELAY_ID, store, keys: signer.publicKey });
  server = await listen(app);
});

afterAll(async () => {
  await server.close();
});

const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const put = (fid: string, index: string | number, body: BodyInit | null, headers: Record<string, string>) => app.request(`/v1/files/${fid}/chunks/${index}`, { method: 'PUT', body, headers });

/** The exact status and stable code each case is known to answer: a range or "any code" hides regressions. */
async function expectCode(res: Response, status: number, code: string): Promise<void> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error?: { code?: string } };
  expect(body.error?.code).toBe(code);
}

const putToken = (over: Record<string, unknown> = {}) => signer.mint({ fid: FID, op: 'put', chunks: [0, 10], max: 10_000, ...over });

describe('ids and indexes in the path', () => {
  it('file id encoded as .. is normalised away by URL parsing -> 404 route, never a handler', async () => {
    await expectCode(await put('%2e%2e', 1, shareChunk(FID, 1), { Authorization: `Bearer ${await putToken()}` }), 404, 'NOT_FOUND');
  });

  it.each([
    ['encoded traversal', '..%2f..%2fetc'],
    ['double-encoded ..', '%252e%252e'],
    ['backslash traversal', '..%5c..%5cwindows'],
    ['uppercase hex', FID.toUpperCase()],
    ['31 hex digits', FID.slice(1)],
    ['33 hex digits', `${FID}0`],
    ['NUL byte', `${FID.slice(0, 31)}%00`],
    ['unicode', `${FID.slice(0, 31)}%C3%A9`]
  ])('file id %s -> 400', async (_n, fid) => {
    await expectCode(await put(fid, 1, shareChunk(FID, 1), { Authorization: `Bearer ${await putToken()}` }), 400, 'BAD_REQUEST');
  });

  it.each([
    ['-1', '-1'],
    ['1.5', '1.5'],
    ['huge', '99999999999'],
    ['2^32-1', '4294967295'],
    ['leading zero', '01'],
    ['exponent', '1e3'],
    ['hex', '0x1'],
    ['encoded letter', '1%61'],
    ['plus sign', '%2B1']
  ])('chunk index %s -> 400', async (_n, index) => {
    await expectCode(await put(FID, index, shareChunk(FID, 1), { Authorization: `Bearer ${await putToken()}` }), 400, 'BAD_REQUEST');
  });

  it('an unencoded ../ never reaches a handler outside /v1/files', async () => {
    await expectCode(await app.request(`/v1/files/${FID}/chunks/../../../../etc/passwd`), 404, 'NOT_FOUND');
  });
});

describe('bodies', () => {
  const auth = async () => ({ Authorization: `Bearer ${await putToken()}` });
  it('empty body -> 400', async () => {
    await expectCode(await put(FID, 1, new Uint8Array(0), await auth()), 400, 'BAD_SHARE_FORMAT');
  });
  it('text instead of a share chunk -> 400', async () => {
    await expectCode(await put(FID, 1, 'x'.repeat(100), await auth()), 400, 'BAD_SHARE_FORMAT');
  });
  it('share chunk of another file -> 400', async () => {
    await expectCode(await put(FID, 1, shareChunk(newFileId(), 1), await auth()), 400, 'BAD_SHARE_FORMAT');
  });
  it('truncated share chunk -> 400', async () => {
    await expectCode(await put(FID, 1, shareChunk(FID, 1, 100).subarray(0, 90), await auth()), 400, 'BAD_SHARE_FORMAT');
  });
  it('share with x = 0 -> 400', async () => {
    const c = shareChunk(FID, 1, 10);
    c[6] = 0;
    await expectCode(await put(FID, 1, c, await auth()), 400, 'BAD_SHARE_FORMAT');
  });
  it('declared Content-Length over the token limit -> 413 before reading', async () => {
    const token = await putToken({ max: 100 });
    await expectCode(await put(FID, 1, shareChunk(FID, 1, 200), { Authorization: `Bearer ${token}`, 'Content-Length': '240' }), 413, 'PAYLOAD_TOO_LARGE');
  });
  it('body over the token limit without Content-Length -> 413', async () => {
    const token = await putToken({ max: 100 });
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(shareChunk(FID, 1, 500));
        c.close();
      }
    });
    await expectCode(await app.request(`/v1/files/${FID}/chunks/1`, { method: 'PUT', body, headers: { Authorization: `Bearer ${token}` }, duplex: 'half' } as RequestInit), 413, 'PAYLOAD_TOO_LARGE');
  });
  it('non-numeric Content-Length -> 400', async () => {
    await expectCode(await put(FID, 1, shareChunk(FID, 1), { ...(await auth()), 'Content-Length': 'abc' }), 400, 'BAD_REQUEST');
  });
});

describe('tokens', () => {
  const chunk = () => shareChunk(FID, 2, 10);
  const with_ = (token: string) => put(FID, 2, chunk(), { Authorization: `Bearer ${token}` });

  it('missing -> 401 TOKEN_MISSING', async () => {
    await expectCode(await put(FID, 2, chunk(), {}), 401, 'TOKEN_MISSING');
  });
  it('Basic scheme -> 401', async () => {
    await expectCode(await put(FID, 2, chunk(), { Authorization: 'Basic dXNlcjpwYXNz' }), 401, 'TOKEN_INVALID');
  });
  it('garbage bearer -> 401', async () => {
    await expectCode(await with_('not.a.jwt!'), 401, 'TOKEN_INVALID');
  });
  it('alg "none" -> 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64({ alg: 'none' })}.${b64({ iss: TOKEN_ISSUER, aud: RELAY_ID, fid: FID, op: 'put', chunks: [0, 9], iat: now, exp: now + 60, jti: 'x' })}.`;
    await expectCode(await put(FID, 2, chunk(), { Authorization: `Bearer ${token}x` }), 401, 'TOKEN_INVALID');
  });
  it('HS256 signed with the public key as secret (algorithm confusion) -> 401', async () => {
    const jwk = await exportJWK(signer.publicKey);
    const secret = new TextEncoder().encode(JSON.stringify(jwk));
    const token = await new SignJWT({ fid: FID, op: 'put', chunks: [0, 9] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(RELAY_ID)
      .setJti('x')
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(secret);
    await expectCode(await with_(token), 401, 'TOKEN_INVALID');
  });
  it('forged: signed by another Ed25519 key -> 401', async () => {
    const other = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    await expectCode(await with_(await signer.mint({ fid: FID }, { key: other.privateKey })), 401, 'TOKEN_INVALID');
  });
  it('tampered payload -> 401', async () => {
    const [h, , s] = (await putToken()).split('.');
    const now = Math.floor(Date.now() / 1000);
    const forged = `${h}.${b64({ iss: TOKEN_ISSUER, aud: RELAY_ID, fid: FID, op: 'delete', chunks: [0, 9], iat: now, exp: now + 60, jti: 'y' })}.${s}`;
    await expectCode(await with_(forged), 401, 'TOKEN_INVALID');
  });
  it('expired -> 401 TOKEN_EXPIRED', async () => {
    await expectCode(await with_(await signer.mint({ fid: FID }, { iat: -600, nbf: -600, exp: -60 })), 401, 'TOKEN_EXPIRED');
  });
  it('not yet valid -> 401 TOKEN_NOT_YET_VALID', async () => {
    await expectCode(await with_(await signer.mint({ fid: FID }, { nbf: 120, exp: 300 })), 401, 'TOKEN_NOT_YET_VALID');
  });
  it('living longer than 15 minutes -> 401', async () => {
    await expectCode(await with_(await signer.mint({ fid: FID }, { exp: 86_400 })), 401, 'TOKEN_INVALID');
  });
  it('wrong issuer -> 401', async () => {
    await expectCode(await with_(await signer.mint({ fid: FID }, { iss: 'someone-else' })), 401, 'TOKEN_INVALID');
  });
  it('oversized token -> 401', async () => {
    await expectCode(await with_(`${'a'.repeat(3000)}.${'b'.repeat(2000)}.c`), 401, 'TOKEN_INVALID');
  });
  it('cross-relay (audience of another relay) -> 403 TOKEN_WRONG_AUDIENCE', async () => {
    await expectCode(await with_(await signer.mint({ fid: FID }, { aud: '00000000-0000-4000-8000-0000000000bb' })), 403, 'TOKEN_WRONG_AUDIENCE');
  });
  it('cross-file -> 403 TOKEN_OUT_OF_SCOPE', async () => {
    await expectCode(await with_(await signer.mint({ fid: newFileId() })), 403, 'TOKEN_OUT_OF_SCOPE');
  });
  it('wrong operation (get token for a PUT) -> 403', async () => {
    await expectCode(await with_(await signer.mint({ fid: FID, op: 'get' })), 403, 'TOKEN_OUT_OF_SCOPE');
  });
  it('chunk outside the token range -> 403', async () => {
    await expectCode(await with_(await signer.mint({ fid: FID, chunks: [3, 5] })), 403, 'TOKEN_OUT_OF_SCOPE');
  });
  it('malformed kofn claims (chunks reversed) -> 401', async () => {
    await expectCode(await with_(await signer.mint({ fid: FID, chunks: [5, 3] })), 401, 'TOKEN_INVALID');
  });
  it('replayed: the same PUT token with other bytes cannot overwrite (409), and a GET token cannot read after expiry', async () => {
    const token = await putToken();
    const first = shareChunk(FID, 7, 10, 1);
    expect((await put(FID, 7, first, { Authorization: `Bearer ${token}` })).status).toBe(201);
    await expectCode(await put(FID, 7, shareChunk(FID, 7, 10, 2), { Authorization: `Bearer ${token}` }), 409, 'CONFLICT');
    const stale = await signer.mint({ fid: FID, op: 'get' }, { iat: -400, nbf: -400, exp: -60 });
    await expectCode(await app.request(`/v1/files/${FID}/chunks/7`, { headers: { Authorization: `Bearer ${stale}` } }), 401, 'TOKEN_EXPIRED');
  });
});

describe('methods, origins and ranges', () => {
  it.each(['POST', 'PATCH'])('%s on a chunk -> 405', async (method) => {
    await expectCode(await app.request(`/v1/files/${FID}/chunks/1`, { method }), 405, 'METHOD_NOT_ALLOWED');
  });
  it('PUT on the list route -> 405', async () => {
    await expectCode(await app.request(`/v1/files/${FID}/chunks`, { method: 'PUT' }), 405, 'METHOD_NOT_ALLOWED');
  });
  it('hostile Origin gets no CORS grant, even with a valid token', async () => {
    const token = await signer.mint({ fid: FID, op: 'get' });
    const res = await app.request(`/v1/files/${FID}/chunks/7`, { headers: { Authorization: `Bearer ${token}`, Origin: 'https://evil.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const pre = await app.request(`/v1/files/${FID}/chunks/7`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'DELETE' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
  });
  it.each(['bytes=0-10', `bytes=${'0-0,'.repeat(2000)}0-0`, 'bytes=-1', 'items=0-1'])('Range %s -> 416', async (range) => {
    const token = await signer.mint({ fid: FID, op: 'get' });
    await expectCode(await app.request(`/v1/files/${FID}/chunks/7`, { headers: { Authorization: `Bearer ${token}`, Range: range.slice(0, 8000) } }), 416, 'RANGE_NOT_SUPPORTED');
  });
});

describe('raw HTTP below the app', () => {
  const head = async (extra: string) => `PUT /v1/files/${FID}/chunks/3 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${await putToken({ max: 5000 })}\r\n${extra}`;

  const json = (body: string) => JSON.parse(body) as { error: { code: string } };

  it('Content-Length longer than the body, then the client goes away: nothing stored', async () => {
    const body = shareChunk(FID, 3, 100);
    const r = await rawRequest(server.port, Buffer.concat([Buffer.from(await head(`Content-Length: 500\r\n\r\n`)), Buffer.from(body)]), { endAfterWrite: true, timeoutMs: 2000 });
    expect(r.status).toBe(400);
    expect(json(r.body).error.code).toBe('BAD_REQUEST');
    // The answer can come before the route has thrown its spool file away: wait for that, then look.
    await expect.poll(() => readdirSync(join(root, 'tmp')), { timeout: 5_000 }).toEqual([]);
    expect(await store.head(FID, 3)).toBeUndefined();
    expect((await store.list(FID)).map((c) => c.index)).not.toContain(3);
  });
  it('Content-Length shorter than the body -> 4xx', async () => {
    const body = shareChunk(FID, 3, 100);
    const r = await rawRequest(server.port, Buffer.concat([Buffer.from(await head(`Content-Length: 60\r\nConnection: close\r\n\r\n`)), Buffer.from(body)]));
    expect(r.status).toBe(400);
    expect(json(r.body).error.code).toBe('BAD_REQUEST');
    expect(await store.head(FID, 3)).toBeUndefined();
  });
  it('two different Content-Length headers -> 400 with a code', async () => {
    const r = await rawRequest(server.port, await head(`Content-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789`));
    expect(r.status).toBe(400);
    expect(json(r.body).error.code).toBe('BAD_REQUEST');
  });
  it('Content-Length together with chunked Transfer-Encoding (smuggling) -> 400', async () => {
    const r = await rawRequest(server.port, await head(`Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`));
    expect(r.status).toBe(400);
    expect(json(r.body).error.code).toBe('BAD_REQUEST');
  });
  it('chunked body over the limit -> 413', async () => {
    const big = Buffer.from(shareChunk(FID, 3, 9000));
    const chunked = `${big.length.toString(16)}\r\n`;
    const r = await rawRequest(server.port, Buffer.concat([Buffer.from(await head(`Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked}`)), big, Buffer.from('\r\n0\r\n\r\n')]));
    expect(r.status).toBe(413);
    expect(json(r.body).error.code).toBe('PAYLOAD_TOO_LARGE');
  });
  it('malformed chunked encoding -> 400 with a code', async () => {
    const r = await rawRequest(server.port, await head(`Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`));
    expect(r.status).toBe(400);
    expect(json(r.body).error.code).toBe('BAD_REQUEST');
  });
  it('oversized headers -> 431 HEADERS_TOO_LARGE', async () => {
    const r = await rawRequest(server.port, `GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(r.status).toBe(431);
    expect(json(r.body).error.code).toBe('HEADERS_TOO_LARGE');
  });
  it('headers that never finish (slowloris) are cut off with 408 once the header timeout passes', { timeout: 25_000 }, async () => {
    // The server's header timeout is 5 s (testing/server.ts). The 408 itself proves the server cut the
    // connection (the client would wait its own 20 s and see no status); the lower bound shows it was
    // that timeout, not an early refusal. No upper bound on a shared, loaded machine: the client's wait is it.
    const t0 = Date.now();
    const r = await rawRequest(server.port, 'GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n', { timeoutMs: 20_000 });
    expect(r.status).toBe(408);
    expect(json(r.body).error.code).toBe('BAD_REQUEST');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4_900);
  });

  it('garbage instead of HTTP -> 400', async () => {
    const r = await rawRequest(server.port, 'HELLO THERE\r\n\r\n');
    expect(r.status).toBe(400);
    expect(json(r.body).error.code).toBe('BAD_REQUEST');
  });
});

describe('after all of it', () => {
  it('nothing was written outside the data root, no spool file is left, and only whole chunks exist', async () => {
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
    const files = walk(parent).map((f) => relative(parent, f));
    expect(files.filter((f) => !f.startsWith('data/'))).toEqual(['outside/sentinel']);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('data/') && !f.startsWith('data/chunks/'))).toEqual([]);
    expect((await store.scrub()).corrupt).toEqual([]);
    const stored = await store.list(FID);
    expect(stored.every((c) => c.size > HEADER_BYTES)).toBe(true);
  });
});
