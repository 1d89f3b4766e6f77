/**
 * The relay client against real HTTP servers on 127.0.0.1 that misbehave the ways issue #13 describes:
 * stall before headers, stall after 100 body bytes, trickle forever, send an endless body or list, answer
 * 503/429 then succeed. Timeouts are shortened (the defaults are tens of seconds); the logic is the same.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startLoopbackServer } from '../testing.js';
import { DEFAULT_RETRY, RelayClient, parseRetryAfter, type RelayClientOptions } from './relay-client.js';
import { base64url } from '../link-proof.js';
import { TokenClock } from './token-expiry.js';
import { ConnectionSlots } from './connection-slots.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let answer: Handler = (_req, res) => res.end();
let requests = 0;
/** Body bytes the server managed to hand to the socket before the client went away. */
let written = 0;
let closed: Promise<void> = Promise.resolve();
let stop: () => Promise<void>;
let url = '';
const timers = new Set<ReturnType<typeof setInterval>>();

beforeAll(async () => {
  ({ url, close: stop } = await startLoopbackServer((req, res) => {
    requests += 1;
    closed = new Promise((r) => res.once('close', () => r()));
    answer(req, res);
  }));
});

afterAll(() => stop());

beforeEach(() => {
  requests = 0;
  written = 0;
  for (const t of timers) clearInterval(t);
  timers.clear();
});

const FID = 'ab'.repeat(16);
const DIGEST = 'cd'.repeat(32);
// Short enough to keep the fault tests quick, long enough that a loaded 2-core CI machine still answers a
// loopback request in time (300 ms flaked under load); the happy paths use the relaxed bounds.
const FAST = { headersMs: 1_000, putHeadersMs: 1_000, idleMs: 1_000, totalMs: 4_000 };
const RELAXED = { headersMs: 15_000, putHeadersMs: 15_000, idleMs: 15_000, totalMs: 30_000 };
const relay = () => ({ id: 'relay-id-1', name: 'relay-one', url });
const enc = (v: unknown) => base64url(new TextEncoder().encode(JSON.stringify(v)));
/** A JWT-shaped capability token (this server does not check signatures). */
const jwt = (claims: Record<string, unknown>) => `${enc({ alg: 'EdDSA', typ: 'JWT' })}.${enc(claims)}.${'s'.repeat(86)}`;
const client = (opts: Partial<RelayClientOptions> = {}) => new RelayClient(relay(), { token: () => 'tok', timeouts: FAST, retry: { baseDelayMs: 10 }, ...opts });
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
/** Writes `piece` every `ms` until the client goes away, counting what was written. */
const flood = (res: ServerResponse, piece: Uint8Array, ms = 0) => {
  if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const t = setInterval(() => {
    if (res.destroyed) {
      clearInterval(t);
      return;
    }
    res.write(piece);
    written += piece.length;
  }, ms);
  timers.add(t);
  res.once('close', () => clearInterval(t));
};
const relayNamed = { details: { relayId: 'relay-id-1', relayName: 'relay-one' } };

describe('RelayClient happy paths', () => {
  it('PUTs a share with the token and reads the digest', async () => {
    let seen: { method?: string; path?: string; auth?: string; length: number } = { length: 0 };
    answer = (req, res) => {
      let length = 0;
      req.on('data', (c: Buffer) => (length += c.length));
      req.on('end', () => {
        seen = { method: req.method, path: req.url, auth: req.headers.authorization, length };
        json(res, 201, { index: 3, size: length, digest: DIGEST, created: true });
      });
    };
    const got = await client({ timeouts: RELAXED }).put(FID, 3, new Blob([bytes(5000, 1)]));
    expect(got).toEqual({ index: 3, size: 5000, digest: DIGEST });
    expect(seen).toEqual({ method: 'PUT', path: `/v1/files/${FID}/chunks/3`, auth: 'Bearer tok', length: 5000 });
  });

  it('GETs a share that arrives in pieces, bounded and into a lent buffer', async () => {
    const body = bytes(150_000, 2);
    answer = (_req, res) => {
      res.write(body.subarray(0, 70_000));
      setTimeout(() => res.end(body.subarray(70_000)), 50);
    };
    expect(Buffer.from(await client({ timeouts: RELAXED }).get(FID, 1, 150_000)).equals(Buffer.from(body))).toBe(true);
    const into = new ArrayBuffer(200_000);
    const got = await client({ timeouts: RELAXED }).getInto(FID, 1, into);
    expect(got.byteLength).toBe(150_000);
    expect(got.buffer.byteLength).toBe(200_000); // the lent memory, not a new buffer
    expect(into.byteLength).toBe(0); // detached: moved into the answer
    expect(Buffer.from(got).equals(Buffer.from(body))).toBe(true);
  });

  it('HEADs, lists and deletes', async () => {
    answer = (req, res) => {
      if (req.method === 'HEAD' && req.url!.endsWith('/9')) return void res.writeHead(404).end();
      if (req.method === 'HEAD') return void res.writeHead(200, { 'content-length': '77', 'x-kofn-digest': DIGEST }).end();
      if (req.method === 'GET') {
        json(res, 200, { fileId: FID, chunks: [{ index: 0, size: 77, digest: DIGEST }] });
        return;
      }
      json(res, 200, { deleted: req.url!.endsWith('/chunks/2') ? true : 4 });
    };
    const c = client({ timeouts: RELAXED });
    expect(await c.head(FID, 1)).toEqual({ size: 77, digest: DIGEST });
    expect(await c.head(FID, 9)).toBeUndefined();
    expect(await c.list(FID, 1)).toEqual([{ index: 0, size: 77, digest: DIGEST }]);
    expect(await c.deleteChunk(FID, 2)).toBe(true);
    expect(await c.deleteFile(FID)).toBe(4);
  });
});

describe('RelayClient against a hostile or failing relay', () => {
  it('gives RELAY_TIMEOUT naming the relay when no headers come, without retrying', async () => {
    answer = () => undefined; // never answers
    const t = performance.now();
    await expect(client().get(FID, 1, 1000)).rejects.toMatchObject({ code: 'RELAY_TIMEOUT', ...relayNamed, message: 'Storage server relay-one did not answer within 1 s.' });
    expect(performance.now() - t).toBeLessThan(1500);
    expect(requests).toBe(1);
  });

  it('gives RELAY_TIMEOUT when a PUT is never answered', async () => {
    answer = (req) => req.resume();
    await expect(client().put(FID, 1, new Blob([bytes(1000, 3)]))).rejects.toMatchObject({ code: 'RELAY_TIMEOUT', ...relayNamed });
  });

  it('gives RELAY_TIMEOUT when the body stalls after 100 bytes, and closes the connection', async () => {
    answer = (_req, res) => {
      res.writeHead(200, { 'content-length': '5000' });
      res.write(bytes(100, 4));
    };
    await expect(client().getInto(FID, 1, new ArrayBuffer(5000))).rejects.toMatchObject({ code: 'RELAY_TIMEOUT', ...relayNamed, message: expect.stringContaining('stopped sending for 1 s') });
    await closed;
    await expect(client().get(FID, 1, 5000)).rejects.toMatchObject({ code: 'RELAY_TIMEOUT' });
  });

  it('ends a relay that trickles a byte before every idle period at the total cap', async () => {
    answer = (_req, res) => flood(res, bytes(1, 5), 100);
    const t = performance.now();
    await expect(client().get(FID, 1, 1_000_000)).rejects.toMatchObject({ code: 'RELAY_TIMEOUT', message: expect.stringContaining('took longer than 4 s') });
    // Ended by the total cap (not the 1 s idle bound, which the trickle keeps resetting); no upper bound
    // on a shared machine whose timers may run late.
    expect(performance.now() - t).toBeGreaterThan(3_900);
  });

  it('aborts an endless share body at the expected size (plain and BYOB reads)', async () => {
    answer = (_req, res) => flood(res, bytes(64 * 1024, 6));
    await expect(client().get(FID, 1, 100_000)).rejects.toMatchObject({ code: 'RELAY_ANSWER_TOO_LARGE', ...relayNamed });
    await closed;
    // What the server could push before the client cancelled: the bound plus socket buffers, not more.
    expect(written).toBeLessThan(16 * 1024 * 1024);
    written = 0;
    await expect(client().getInto(FID, 1, new ArrayBuffer(100_000))).rejects.toMatchObject({ code: 'RELAY_ANSWER_TOO_LARGE', ...relayNamed });
    await closed;
    expect(written).toBeLessThan(16 * 1024 * 1024);
  });

  it('refuses at once a body whose Content-Length is over the bound', async () => {
    answer = (_req, res) => {
      res.writeHead(200, { 'content-length': String(1 << 30) });
      res.write(bytes(1000, 7));
    };
    await expect(client().getInto(FID, 1, new ArrayBuffer(4096))).rejects.toMatchObject({ code: 'RELAY_ANSWER_TOO_LARGE' });
  });

  it('bounds a chunk list by the expected chunk count, endless or merely too long', async () => {
    const entry = JSON.stringify({ index: 1, size: 1, digest: DIGEST });
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"chunks":[');
      flood(res, new TextEncoder().encode(entry + ','));
    };
    await expect(client().list(FID, 10)).rejects.toMatchObject({ code: 'RELAY_ANSWER_TOO_LARGE', ...relayNamed });
    await closed;
    expect(written).toBeLessThan(16 * 1024 * 1024);
    answer = (_req, res) => json(res, 200, { chunks: Array.from({ length: 11 }, (_, i) => ({ index: i, size: 1, digest: DIGEST })) });
    await expect(client().list(FID, 10)).rejects.toMatchObject({ code: 'RELAY_BAD_ANSWER' });
  });

  it('bounds a batch of chunk lists by its files, and refuses one that does not answer them in order', async () => {
    const other = 'ef'.repeat(16);
    const files = [
      { fileId: FID, maxChunks: 2, token: 't1' },
      { fileId: other, maxChunks: 2, token: 't2' }
    ];
    let sent: unknown;
    let auth: string | undefined;
    answer = (req, res) => {
      auth = req.headers.authorization;
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        sent = JSON.parse(body);
        json(res, 200, { files: [{ fileId: FID, chunks: [{ index: 0, size: 5, digest: DIGEST }] }, { error: { code: 'TOKEN_EXPIRED', message: 'relay text' } }] });
      });
    };
    const got = await client().listMany(files);
    expect([sent, auth, requests]).toEqual([{ tokens: ['t1', 't2'] }, undefined, 1]);
    expect(got[0]).toEqual({ ok: true, chunks: [{ index: 0, size: 5, digest: DIGEST }] });
    expect(got[1]).toMatchObject({ ok: false, error: { code: 'TOKEN_EXPIRED', details: { relayId: 'relay-id-1' } } });
    // An unknown code is not passed on; a wrong order, a missing item or a list over a file's bound fails the batch.
    answer = (_req, res) => json(res, 200, { files: [{ error: { code: 'MADE_UP' } }, { fileId: other, chunks: [] }] });
    expect((await client().listMany(files))[0]).toMatchObject({ ok: false, error: { code: 'RELAY_BAD_ANSWER' } });
    for (const bad of [
      {
        files: [
          { fileId: other, chunks: [] },
          { fileId: FID, chunks: [] }
        ]
      },
      { files: [{ fileId: FID, chunks: [] }] },
      {
        files: [
          { fileId: FID, chunks: [] },
          { fileId: other, chunks: Array.from({ length: 3 }, (_, i) => ({ index: i, size: 1, digest: DIGEST })) }
        ]
      },
      { nope: 1 }
    ]) {
      answer = (_req, res) => json(res, 200, bad);
      await expect(client().listMany(files)).rejects.toMatchObject({ code: 'RELAY_BAD_ANSWER', ...relayNamed });
    }
    const entry = JSON.stringify({ fileId: FID, chunks: [] });
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"files":[');
      flood(res, new TextEncoder().encode(entry + ','));
    };
    await expect(client().listMany(files)).rejects.toMatchObject({ code: 'RELAY_ANSWER_TOO_LARGE', ...relayNamed });
    await closed;
    expect(written).toBeLessThan(16 * 1024 * 1024);
    expect(() => client().listMany([])).toThrow(RangeError);
  });

  it('gives RELAY_BAD_ANSWER for garbage where JSON is due', async () => {
    answer = (_req, res) => res.end('<html>not json');
    await expect(client().list(FID, 10)).rejects.toMatchObject({ code: 'RELAY_BAD_ANSWER', ...relayNamed });
    answer = (_req, res) => json(res, 200, { chunks: [{ index: -1, size: 1, digest: DIGEST }] });
    await expect(client().list(FID, 10)).rejects.toMatchObject({ code: 'RELAY_BAD_ANSWER' });
    answer = (_req, res) => json(res, 201, { index: 3, size: 1, digest: 'nope' });
    await expect(client().put(FID, 3, new Blob([bytes(1, 1)]))).rejects.toMatchObject({ code: 'RELAY_BAD_ANSWER' });
  });

  it('retries a 503 and then succeeds', async () => {
    const body = bytes(1000, 8);
    answer = (_req, res) => (requests === 1 ? json(res, 503, { error: { code: 'UNAVAILABLE', message: 'Busy.' } }) : res.end(body));
    expect(Buffer.from(await client().get(FID, 1, 1000)).equals(Buffer.from(body))).toBe(true);
    expect(requests).toBe(2);
  });

  it("honours a 429's Retry-After, within the cap", async () => {
    const body = bytes(10, 9);
    answer = (_req, res) => (requests === 1 ? json(res, 429, { error: { code: 'RATE_LIMITED', message: 'Slow down.' } }, { 'retry-after': '1' }) : res.end(body));
    let t = performance.now();
    await client().get(FID, 1, 10);
    expect(performance.now() - t).toBeGreaterThan(950);
    requests = 0;
    answer = (_req, res) => (requests === 1 ? json(res, 429, {}, { 'retry-after': '3600' }) : res.end(body));
    t = performance.now();
    await client({ retry: { baseDelayMs: 10, maxRetryAfterMs: 200 } }).get(FID, 1, 10);
    expect(performance.now() - t).toBeLessThan(1000);
    expect(requests).toBe(2);
  });

  it('gives up after the bounded attempts with the last error', async () => {
    answer = (_req, res) => json(res, 502, {});
    await expect(client().get(FID, 1, 10)).rejects.toMatchObject({ code: 'UNAVAILABLE', details: { relayId: 'relay-id-1', status: 502 } });
    expect(requests).toBe(4);
  });

  it("passes a relay's 4xx code at once, without retrying", async () => {
    answer = (_req, res) => json(res, 403, { error: { code: 'TOKEN_OUT_OF_SCOPE', message: 'no' } });
    await expect(client().get(FID, 1, 10)).rejects.toMatchObject({ code: 'TOKEN_OUT_OF_SCOPE', details: { relayName: 'relay-one', status: 403 } });
    expect(requests).toBe(1);
  });

  it('asks the token callback for a fresh token once the relay says it expired', async () => {
    const asked: Array<[string, boolean]> = [];
    answer = (req, res) => (req.headers.authorization === 'Bearer fresh' ? res.end(bytes(4, 1)) : json(res, 401, { error: { code: 'TOKEN_EXPIRED', message: 'old' } }));
    const c = client({ token: (op, refresh) => (asked.push([op, refresh]), refresh ? 'fresh' : 'stale') });
    expect((await c.get(FID, 1, 4)).byteLength).toBe(4);
    expect(asked).toEqual([
      ['get', false],
      ['get', true]
    ]);
  });

  it('a fresh token refused as expired too is renewed again after the backoff, within the attempts', async () => {
    // Two fresh tokens spent before they were sent (queued behind slow bodies), the third served.
    let fresh = 0;
    const asked: boolean[] = [];
    answer = (req, res) => (req.headers.authorization === 'Bearer fresh-3' ? res.end(bytes(4, 1)) : json(res, 401, { error: { code: 'TOKEN_EXPIRED', message: 'old' } }));
    const c = client({ token: (_op, refresh) => (asked.push(refresh), refresh ? `fresh-${++fresh}` : 'stale') });
    expect((await c.get(FID, 1, 4)).byteLength).toBe(4);
    expect(asked).toEqual([false, true, true, true]);
    // Never refreshed past the attempts: a relay that calls every token expired ends in TOKEN_EXPIRED.
    answer = (_req, res) => json(res, 401, { error: { code: 'TOKEN_EXPIRED', message: 'old' } });
    requests = 0;
    await expect(client().get(FID, 1, 4)).rejects.toMatchObject({ code: 'TOKEN_EXPIRED', details: { status: 401 } });
    expect(requests).toBe(DEFAULT_RETRY.attempts);
  });

  it('with slots, a request past them waits before it reads its token, and each slot is held until its answer is read', async () => {
    // Two slots, three GETs whose answers come only when the test says: the third asks for its token only once
    // the first answer was read (a token read while queued would be spent queueing, the browser's case).
    const pending: ServerResponse[] = [];
    answer = (_req, res) => void pending.push(res);
    const asked: number[] = [];
    const slots = new ConnectionSlots(2);
    const c = client({ slots, timeouts: RELAXED, token: () => (asked.push(asked.length + 1), 'tok') });
    const gets = [c.get(FID, 1, 4), c.get(FID, 2, 4), c.get(FID, 3, 4)];
    await expect.poll(() => pending.length).toBe(2);
    expect(asked).toEqual([1, 2]);
    expect(slots.inUse).toBe(2);
    pending[0]!.end(bytes(4, 1));
    await expect.poll(() => pending.length).toBe(3);
    expect(asked).toEqual([1, 2, 3]);
    pending[1]!.end(bytes(4, 2));
    pending[2]!.end(bytes(4, 3));
    expect((await Promise.all(gets)).map((b) => b[0])).toEqual([bytes(4, 1)[0], bytes(4, 2)[0], bytes(4, 3)[0]]);
    expect(slots.inUse).toBe(0);
    // A failed attempt frees its slot too (a 4xx answered at once, not retried).
    answer = (_req, res) => json(res, 404, { error: { code: 'NOT_FOUND', message: 'gone' } });
    await expect(c.get(FID, 1, 4)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(slots.inUse).toBe(0);
  });

  it('renews a token ahead of its expiry, through the same callback, by the injected clock', async () => {
    // 10 s tokens (the e2e token-lifetime test's): renewed once less than a quarter of the lifetime is left.
    const old = jwt({ jti: 'rc-old', iat: 1_000, exp: 1_010 });
    const fresh = jwt({ jti: 'rc-fresh', iat: 1_007, exp: 1_017 });
    const seen: string[] = [];
    answer = (req, res) => (seen.push(req.headers.authorization ?? ''), res.end(bytes(4, 1)));
    const asked: Array<[string, boolean]> = [];
    let now = 1_000_000;
    const c = client({ tokenClock: new TokenClock(() => now), token: (op, refresh) => (asked.push([op, refresh]), refresh ? fresh : old) });
    await c.get(FID, 1, 4);
    now = 1_007_400; // 2.6 s left: kept
    await c.get(FID, 1, 4);
    now = 1_007_600; // 2.4 s left: renewed before the request
    await c.get(FID, 1, 4);
    expect(seen).toEqual([`Bearer ${old}`, `Bearer ${old}`, `Bearer ${fresh}`]);
    expect(asked).toEqual([
      ['get', false],
      ['get', false],
      ['get', false],
      ['get', true]
    ]);
  });

  it('uses a renewed token that is still about to expire, asking only once per request', async () => {
    const stale = jwt({ jti: 'rc-stale', iat: 2_000, exp: 2_010 });
    answer = (_req, res) => res.end(bytes(4, 1));
    let now = 2_000_000;
    let asks = 0;
    const clock = new TokenClock(() => now);
    const c = client({ tokenClock: clock, token: () => (asks++, stale) });
    await c.get(FID, 1, 4);
    now = 2_009_000;
    await c.get(FID, 1, 4);
    expect(asks).toBe(3);
    expect(requests).toBe(2);
    // The same token back teaches the clock nothing (it is not ahead).
    expect(clock.aheadMs).toBe(0);
  });

  it('gives RELAYS_OFFLINE naming the relay when nothing listens, after retrying', async () => {
    const dead = new RelayClient({ id: 'relay-id-2', name: 'relay-two', url: 'http://127.0.0.1:1' }, { token: () => 't', timeouts: FAST, retry: { baseDelayMs: 1 } });
    await expect(dead.list(FID, 1)).rejects.toMatchObject({ code: 'RELAYS_OFFLINE', details: { relayId: 'relay-id-2', relayName: 'relay-two', status: 0 } });
  });

  it("rejects with the caller's abort reason, not a relay error", async () => {
    answer = () => undefined;
    const ac = new AbortController();
    setTimeout(() => ac.abort(new DOMException('stop', 'AbortError')), 50);
    await expect(client().get(FID, 1, 10, ac.signal)).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, and ignores garbage', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    expect(parseRetryAfter('Sun, 29 Nov 2026 20:00:10 GMT', Date.parse('Sun, 29 Nov 2026 20:00:00 GMT'))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});
