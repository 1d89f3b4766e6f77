/**
 * The chunk fast path (fast-chunks.ts) against Hono on one relay app: every request is sent once to a server
 * that has only the Hono adapter and once to the relay's own server (fast path in front), each on its own
 * file, and the answers must be the same: status, every header (X-Request-Id sent by the test so it is
 * comparable; Date and connection headers aside) and body. A counter on `app.fetch` tells which requests
 * the fast path answered itself and which it handed to Hono.
 */
import { createHash } from 'node:crypto';
import { request, type IncomingHttpHeaders, type Server } from 'node:http';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER_BYTES, type ErrorBody } from '@kofn/shared';
import { ORIGIN, testRelay } from './testing/app.js';
import { newFileId, shareChunk } from './testing/chunks.js';
import { relayServer } from './app.js';
import { SECURITY_HEADERS } from './fast-chunks.js';

type T = Awaited<ReturnType<typeof testRelay>>;
let t: T;
/** Hono only: the adapter's listener, no fast path. */
let honoPort: number;
/** The relay's server (main.ts's createServer), with `app.fetch` counted. */
let fastPort: number;
let honoCalls = 0;
const servers: Server[] = [];

function start(options: Parameters<typeof serve>[0]): Promise<number> {
  return new Promise((res) => {
    const s = serve({ ...options, hostname: '127.0.0.1', port: 0 }, (info) => res(info.port)) as Server;
    servers.push(s);
  });
}

beforeAll(async () => {
  t = await testRelay();
  honoPort = await start({ fetch: t.app.fetch });
  fastPort = await start({
    fetch: (req, env) => {
      honoCalls++;
      return t.app.fetch(req, env);
    },
    createServer: relayServer(t.app)
  });
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request; `body` sent with Content-Length unless `chunked`. Resolves with the whole answer. */
function send(port: number, method: string, path: string, headers: Record<string, string | string[]>, body?: Uint8Array, chunked = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const h = body && !chunked ? { ...headers, 'Content-Length': String(body.byteLength) } : chunked ? { ...headers, 'Transfer-Encoding': 'chunked' } : headers;
    const req = request({ host: '127.0.0.1', port, method, path, headers: h, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    // The server may answer (413) and stop reading before the whole body is sent.
    req.on('error', (err) => (err as NodeJS.ErrnoException).code !== 'EPIPE' && (err as NodeJS.ErrnoException).code !== 'ECONNRESET' && reject(err));
    req.end(body);
  });
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Headers that may differ between two answers whatever served them. */
const VOLATILE = new Set(['date', 'connection', 'keep-alive']);

/**
 * What must match: status, headers and body with the file id (each side has its own) and SHA-256 digests
 * (a chunk's header names its file, so the digests differ too) written as placeholders.
 */
function comparable(a: Answer, fid: string): Record<string, unknown> {
  const norm = (text: string) => text.replaceAll(fid, 'FID').replace(/[0-9a-f]{64}/g, 'DIGEST');
  const headers: Record<string, unknown> = {};
  for (const k of Object.keys(a.headers).sort()) if (!VOLATILE.has(k)) headers[k] = k === 'x-kofn-digest' ? 'DIGEST' : a.headers[k];
  const json = a.headers['content-type'] === 'application/json';
  // A chunk's bytes: compared as their hash once the file id is written as FID.
  const body = json ? norm(a.body.toString('utf8')) : sha256(Buffer.from(a.body.toString('hex').replaceAll(fid, 'FID')));
  return { status: a.status, headers, body };
}

/**
 * A file of its own on each server, with a put token (chunks 0..9, `max` bytes) and a get token, both
 * verified once already (a PUT of chunk 0 and a GET of it, through Hono): the fast path takes only tokens
 * this relay has verified.
 */
async function fileOn(port: number, max = 100_000) {
  const fid = newFileId();
  const put = { Authorization: `Bearer ${await t.signer.mint({ fid, op: 'put', chunks: [0, 9], max })}` };
  const get = { Authorization: `Bearer ${await t.signer.mint({ fid, op: 'get', chunks: [0, 9] })}` };
  const warm = shareChunk(fid, 0, 10);
  expect((await send(honoPort, 'PUT', `/v1/files/${fid}/chunks/0`, put, warm)).status).toBe(201);
  expect((await send(honoPort, 'GET', `/v1/files/${fid}/chunks/0`, get)).status).toBe(200);
  return { port, fid, put, get, path: (i: number) => `/v1/files/${fid}/chunks/${i}` };
}

type File = Awaited<ReturnType<typeof fileOn>>;

/**
 * Runs `step` on a fresh file on each server (same fill bytes) and checks the answers match; returns the
 * fast server's answer, its file and how many of the step's requests it handed to Hono.
 */
async function parity(step: (f: File) => Promise<Answer>, max?: number): Promise<{ fast: Answer; file: File; handedToHono: number }> {
  const onHono = await fileOn(honoPort, max);
  const hono = await step(onHono);
  const file = await fileOn(fastPort, max);
  const before = honoCalls;
  const fast = await step(file);
  const handedToHono = honoCalls - before;
  expect(comparable(fast, file.fid)).toEqual(comparable(hono, onHono.fid));
  return { fast, file, handedToHono };
}

const errorCode = (a: Answer): string => (JSON.parse(a.body.toString('utf8')) as ErrorBody).error.code;

const RID = { 'X-Request-Id': 'parity-test-1' };

describe('chunk PUT: the fast path answers as Hono does', () => {
  it('stores a chunk (201) with the same JSON, digest and security headers, without Hono', async () => {
    let sent = new Uint8Array();
    const { fast, handedToHono } = await parity((f) => send(f.port, 'PUT', f.path(1), { ...f.put, ...RID }, (sent = shareChunk(f.fid, 1, 5000, 7))));
    expect(handedToHono).toBe(0);
    expect(fast.status).toBe(201);
    expect(fast.headers['x-kofn-digest']).toBe(sha256(sent));
    expect(JSON.parse(fast.body.toString())).toEqual({ index: 1, size: sent.length, digest: sha256(sent), created: true });
    expect(fast.headers['x-request-id']).toBe('parity-test-1');
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) expect(fast.headers[k.toLowerCase()]).toBe(v);
    expect(fast.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('gives CORS access to a configured origin only', async () => {
    const allowed = await parity((f) => send(f.port, 'PUT', f.path(1), { ...f.put, ...RID, Origin: ORIGIN }, shareChunk(f.fid, 1, 100, 1)));
    expect(allowed.handedToHono).toBe(0);
    expect(allowed.fast.headers['access-control-allow-origin']).toBe(ORIGIN);
    const other = await parity((f) => send(f.port, 'PUT', f.path(1), { ...f.put, ...RID, Origin: 'http://evil.example' }, shareChunk(f.fid, 1, 100, 1)));
    expect(other.handedToHono).toBe(0);
    expect(other.fast.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers a replay 200 (same bytes) and 409 CONFLICT (other bytes)', async () => {
    const same = await parity(async (f) => {
      await send(f.port, 'PUT', f.path(2), f.put, shareChunk(f.fid, 2, 300, 3));
      return send(f.port, 'PUT', f.path(2), { ...f.put, ...RID }, shareChunk(f.fid, 2, 300, 3));
    });
    expect(same.fast.status).toBe(200);
    expect(same.handedToHono).toBe(0);
    const other = await parity(async (f) => {
      await send(f.port, 'PUT', f.path(2), f.put, shareChunk(f.fid, 2, 300, 3));
      return send(f.port, 'PUT', f.path(2), { ...f.put, ...RID }, shareChunk(f.fid, 2, 300, 4));
    });
    expect(other.fast.status).toBe(409);
    expect(errorCode(other.fast)).toBe('CONFLICT');
    expect(other.handedToHono).toBe(0);
  });

  it('refuses bodies found bad while reading: over the limit without Content-Length (413), wrong chunk (400), short (400)', async () => {
    const big = await parity((f) => send(f.port, 'PUT', f.path(3), { ...f.put, ...RID }, shareChunk(f.fid, 3, 4000), true), 2000);
    expect(big.fast.status).toBe(413);
    expect(errorCode(big.fast)).toBe('PAYLOAD_TOO_LARGE');
    expect(big.handedToHono).toBe(0);
    const wrong = await parity((f) => send(f.port, 'PUT', f.path(3), { ...f.put, ...RID }, shareChunk(f.fid, 4, 100)));
    expect(wrong.fast.status).toBe(400);
    expect(errorCode(wrong.fast)).toBe('BAD_SHARE_FORMAT');
    const short = await parity((f) => send(f.port, 'PUT', f.path(3), { ...f.put, ...RID }, shareChunk(f.fid, 3, 100).subarray(0, HEADER_BYTES + 50)));
    expect(short.fast.status).toBe(400);
    expect(short.handedToHono).toBe(0);
  });

  it('hands to Hono what it does not take: a Content-Length over the limit, a chunk outside the token, a token not yet verified, a query, a repeated header', async () => {
    const declared = await parity((f) => send(f.port, 'PUT', f.path(5), { ...f.put, ...RID }, shareChunk(f.fid, 5, 3000)), 2000);
    expect(declared.fast.status).toBe(413);
    expect(declared.handedToHono).toBe(1);
    const outside = await parity((f) => send(f.port, 'PUT', `/v1/files/${f.fid}/chunks/10`, { ...f.put, ...RID }, shareChunk(f.fid, 10, 100)));
    expect(outside.fast.status).toBe(403);
    expect(outside.handedToHono).toBe(1);
    const fresh = await parity(async (f) => {
      const token = await t.signer.mint({ fid: f.fid, op: 'put', chunks: [0, 9] });
      return send(f.port, 'PUT', f.path(6), { Authorization: `Bearer ${token}`, ...RID }, shareChunk(f.fid, 6, 100, 2));
    });
    expect(fresh.fast.status).toBe(201);
    expect(fresh.handedToHono).toBe(1);
    const twice = await parity((f) => send(f.port, 'PUT', f.path(8), { ...f.put, ...RID, Origin: [ORIGIN, ORIGIN] }, shareChunk(f.fid, 8, 100, 2)));
    expect(twice.fast.status).toBe(201);
    expect(twice.fast.headers['access-control-allow-origin']).toBeUndefined();
    expect(twice.handedToHono).toBe(1);
    const query = await parity((f) => send(f.port, 'PUT', `${f.path(7)}?x=1`, { ...f.put, ...RID }, shareChunk(f.fid, 7, 100, 2)));
    expect(query.fast.status).toBe(201);
    expect(query.handedToHono).toBe(1);
  });
});

describe('chunk GET: the fast path answers as Hono does', () => {
  it('serves the stored bytes with the same headers, without Hono', async () => {
    const { fast, file, handedToHono } = await parity(async (f) => {
      await send(f.port, 'PUT', f.path(1), f.put, shareChunk(f.fid, 1, 200_000, 9));
      return send(f.port, 'GET', f.path(1), { ...f.get, ...RID, Origin: ORIGIN });
    }, 300_000);
    expect(handedToHono).toBe(0);
    expect(fast.status).toBe(200);
    expect(fast.body.equals(shareChunk(file.fid, 1, 200_000, 9))).toBe(true);
    expect(fast.headers['x-kofn-digest']).toBe(sha256(fast.body));
    expect(fast.headers['content-length']).toBe(String(HEADER_BYTES + 200_000));
  });

  it('hands a missing chunk and a Range request to Hono (404, 416)', async () => {
    const missing = await parity((f) => send(f.port, 'GET', f.path(8), { ...f.get, ...RID }));
    expect(missing.fast.status).toBe(404);
    expect(missing.handedToHono).toBe(1);
    const ranged = await parity(async (f) => {
      await send(f.port, 'PUT', f.path(1), f.put, shareChunk(f.fid, 1, 100, 9));
      return send(f.port, 'GET', f.path(1), { ...f.get, ...RID, Range: 'bytes=0-9' });
    });
    expect(ranged.fast.status).toBe(416);
    expect(ranged.handedToHono).toBe(1);
  });
});
