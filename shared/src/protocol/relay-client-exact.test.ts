/**
 * The relay client's exact behaviour, where relay-client.test.ts checks the shape (issue #24: what mutation
 * testing left alive in relay-client.ts). Every request's method, path, headers and body as the relay sees
 * them; every error's code, message and details; which statuses are retried and after how long; which
 * timeout applies to which request; the caller's abort cutting a request at once. Against a real HTTP
 * server on 127.0.0.1.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startLoopbackServer } from '../testing.js';
import { KofnError } from '../errors.js';
import { LIST_BATCH_PATH, MAX_JSON_ANSWER_BYTES, MAX_LIST_BATCH, RelayClient, isRetryable, parseRetryAfter, type RelayClientOptions } from './relay-client.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}
type Handler = (req: Seen, res: ServerResponse) => void;
let answer: Handler = (_req, res) => res.end();
let seen: Seen[] = [];
let stop: () => Promise<void>;
let url = '';

beforeAll(async () => {
  ({ url, close: stop } = await startLoopbackServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('latin1')));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(s);
      answer(s, res);
    });
  }));
});

afterAll(() => stop());

beforeEach(() => {
  seen = [];
});

const FID = 'ab'.repeat(16);
const DIGEST = 'cd'.repeat(32);
const FAST = { headersMs: 1_000, putHeadersMs: 1_000, idleMs: 1_000, totalMs: 4_000 };
const RELAXED = { headersMs: 15_000, putHeadersMs: 15_000, idleMs: 15_000, totalMs: 30_000 };
const NAME = 'relay-one';
const client = (opts: Partial<RelayClientOptions> = {}) => new RelayClient({ id: 'relay-id-1', name: NAME, url }, { token: () => 'tok', timeouts: FAST, retry: { baseDelayMs: 10 }, ...opts });
const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const later = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The settled error of `p` (a test failure when it resolves). */
async function failure(p: Promise<unknown>): Promise<KofnError> {
  const got = await p.then(
    () => undefined,
    (e: unknown) => e
  );
  if (!(got instanceof KofnError)) throw new Error(`expected a KofnError, got ${String(got)}`);
  return got;
}
const bad = (what: string) => ({ code: 'RELAY_BAD_ANSWER', message: `Storage server ${NAME} sent ${what}.`, details: { relayId: 'relay-id-1', relayName: NAME, status: 200 } });

describe('isRetryable', () => {
  it('retries no answer at all, 5xx but 501 and 507, and 429; nothing else', () => {
    const at = (status: number | undefined, code = 'UNAVAILABLE') => isRetryable({ code, details: status === undefined ? undefined : { status } });
    expect(at(0, 'RELAYS_OFFLINE')).toBe(true);
    expect(at(0, 'RELAY_TIMEOUT')).toBe(false);
    expect([499, 500, 501, 502, 503, 504, 507, 599, 429, 400, 404, 200].map((s) => at(s))).toEqual([false, true, false, true, true, true, false, true, true, false, false, false]);
    expect(at(undefined)).toBe(false);
  });
});

describe('parseRetryAfter', () => {
  it('takes delta-seconds only as the whole (trimmed) value, up to 9 digits', () => {
    expect(parseRetryAfter(' 12 ')).toBe(12_000);
    expect(parseRetryAfter('123456789')).toBe(123_456_789_000);
    expect(parseRetryAfter('x7')).toBeUndefined();
    expect(parseRetryAfter('7 soon')).toBeUndefined();
  });
});

describe('requests as the relay sees them, and their answers checked', () => {
  it('renewal: a contribution PUT (with its check pad), a step POST, an epoch drop and a range drop', async () => {
    answer = (req, res) => {
      if (req.method === 'PUT') {
        json(res, 201, { index: 4, size: req.body.length, digest: DIGEST });
        return;
      }
      if (req.method === 'POST') {
        json(res, 200, { staged: 3 });
        return;
      }
      json(res, 200, { deleted: req.url.includes('from=') ? 2 : 5 });
    };
    const c = client({ timeouts: RELAXED });
    expect(await c.putContribution(FID, 3, 17, 4, new Uint8Array([1, 2, 3]), undefined, 'pad-1')).toEqual({ index: 4, size: 3, digest: DIGEST });
    expect(await c.putContribution(FID, 3, 17, 4, new Uint8Array([1]))).toEqual({ index: 4, size: 1, digest: DIGEST });
    expect(await c.renewalStep(FID, 3, 'prepare', { a: 1 }, 1000)).toEqual({ staged: 3 });
    expect(await c.dropEpoch(FID, 3)).toBe(5);
    expect(await c.dropContributions(FID, 3, 2, 9)).toBe(2);
    expect(seen.map((s) => [s.method, s.url, s.headers['x-kofn-check-pad'], s.headers.authorization])).toEqual([
      ['PUT', `/v1/files/${FID}/epochs/3/from/17/chunks/4`, 'pad-1', 'Bearer tok'],
      ['PUT', `/v1/files/${FID}/epochs/3/from/17/chunks/4`, undefined, 'Bearer tok'],
      ['POST', `/v1/files/${FID}/epochs/3/prepare`, undefined, 'Bearer tok'],
      ['DELETE', `/v1/files/${FID}/epochs/3`, undefined, 'Bearer tok'],
      ['DELETE', `/v1/files/${FID}/epochs/3?from=2&to=9`, undefined, 'Bearer tok']
    ]);
    expect(seen[2]!.body).toBe('{"a":1}');
  });

  it('renewal answers that are not what was asked are RELAY_BAD_ANSWER, saying which', async () => {
    const c = client();
    answer = (_req, res) => json(res, 201, { index: 5, size: 1, digest: DIGEST });
    expect(await failure(c.putContribution(FID, 3, 17, 4, new Uint8Array([1])))).toMatchObject(bad('a malformed answer to a contribution'));
    answer = (_req, res) => json(res, 200, { deleted: -1 });
    expect(await failure(c.dropEpoch(FID, 3))).toMatchObject(bad('a malformed answer to a drop'));
    expect(await failure(c.dropContributions(FID, 3, 0, 1))).toMatchObject(bad('a malformed answer to a drop'));
    expect(await failure(c.deleteFile(FID))).toMatchObject(bad('a malformed answer to a DELETE'));
    answer = (_req, res) => json(res, 200, { deleted: 1 });
    expect(await failure(c.deleteChunk(FID, 1))).toMatchObject(bad('a malformed answer to a DELETE'));
    answer = (_req, res) => json(res, 201, { index: 4, size: 1, digest: 'x' });
    expect(await failure(c.put(FID, 4, new Uint8Array([1])))).toMatchObject(bad('a malformed answer to a PUT'));
    answer = (_req, res) => res.writeHead(200, { 'content-length': '9' }).end();
    expect(await failure(c.head(FID, 1))).toMatchObject(bad('a malformed answer to a HEAD'));
    answer = (_req, res) => res.writeHead(200, { 'x-kofn-digest': DIGEST, 'content-length': '0' }).end();
    expect(await c.head(FID, 1)).toEqual({ size: 0, digest: DIGEST });
    answer = (_req, res) => res.end('not json');
    expect(await failure(c.list(FID, 3))).toMatchObject(bad('an answer that is not JSON'));
    answer = (_req, res) => json(res, 200, { chunks: [{ index: 0, size: 1, digest: 'x' }] });
    expect(await failure(c.list(FID, 3))).toMatchObject(bad('a malformed chunk list'));
    answer = (_req, res) => json(res, 200, { chunks: {} });
    expect(await failure(c.list(FID, 3))).toMatchObject(bad('a malformed chunk list'));
    expect(seen.at(-1)!.url).toBe(`/v1/files/${FID}/chunks`);
    expect(seen.filter((s) => s.method === 'DELETE').map((s) => s.url)).toEqual([
      `/v1/files/${FID}/epochs/3`,
      `/v1/files/${FID}/epochs/3?from=0&to=1`,
      `/v1/files/${FID}`,
      `/v1/files/${FID}/chunks/1`
    ]);
  });

  it('a batch of chunk lists: one POST of the tokens as JSON, no Authorization; bounded by the files; exact refusals', async () => {
    const other = 'ef'.repeat(16);
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ index: i, size: 1000 + i, digest: DIGEST }));
    answer = (_req, res) =>
      json(res, 200, {
        files: [{ fileId: FID, chunks: many(100) }, { error: { code: 'TOKEN_EXPIRED' } }, { fileId: other, chunks: [] }]
      });
    const files = [
      { fileId: FID, maxChunks: 100, token: 't1' },
      { fileId: other, maxChunks: 100, token: 't2' },
      { fileId: other, maxChunks: 100, token: 't3' }
    ];
    const got = await client().listMany(files);
    expect(got[0]).toEqual({ ok: true, chunks: many(100) });
    expect(got[1]).toMatchObject({ ok: false, error: { code: 'TOKEN_EXPIRED', message: `Storage server ${NAME} refused listing a file (TOKEN_EXPIRED).`, details: { status: 200 } } });
    expect(got[2]).toEqual({ ok: true, chunks: [] });
    expect(seen.map((s) => [s.method, s.url, s.headers['content-type'], s.headers.authorization, s.body])).toEqual([
      ['POST', LIST_BATCH_PATH, 'application/json', undefined, '{"tokens":["t1","t2","t3"]}']
    ]);
    answer = (_req, res) =>
      json(res, 200, {
        files: [
          { fileId: FID, chunks: [] },
          { fileId: FID, chunks: [] },
          { fileId: other, chunks: [] }
        ]
      });
    expect(await failure(client().listMany(files))).toMatchObject(bad('a malformed batch of chunk lists'));
    answer = (_req, res) => json(res, 200, { files: [] });
    expect(await failure(client().listMany(files))).toMatchObject(bad('a malformed batch of chunk lists'));
    const most = Array.from({ length: MAX_LIST_BATCH }, () => ({ fileId: FID, maxChunks: 1, token: 't' }));
    answer = (_req, res) => json(res, 200, { files: most.map(() => ({ fileId: FID, chunks: [] })) });
    expect(await client().listMany(most)).toHaveLength(MAX_LIST_BATCH);
    expect(() => client().listMany([...most, most[0]!])).toThrow(new RangeError(`listMany takes 1..${MAX_LIST_BATCH} files`));
    expect(() => client().listMany([])).toThrow(new RangeError(`listMany takes 1..${MAX_LIST_BATCH} files`));
  });
});

describe("a relay's errors, exactly", () => {
  it('names the status, and the code when it is one of ours; retry-after and cause only when there are some', async () => {
    const c = client({ retry: { attempts: 1 } });
    answer = (_req, res) => json(res, 418, { error: { code: 'MADE_UP', message: 'relay text is never shown' } });
    const teapot = await failure(c.get(FID, 1, 10));
    expect(teapot).toMatchObject({ code: 'RELAY_BAD_ANSWER', message: `Storage server ${NAME} answered 418.` });
    expect(teapot.details).toStrictEqual({ relayId: 'relay-id-1', relayName: NAME, status: 418 });
    expect('cause' in teapot).toBe(false);
    answer = (_req, res) => json(res, 500, {});
    expect(await failure(c.get(FID, 1, 10))).toMatchObject({ code: 'UNAVAILABLE', message: `Storage server ${NAME} answered 500 (UNAVAILABLE).`, details: { status: 500 } });
    answer = (_req, res) => json(res, 429, {}, { 'retry-after': '7' });
    const slow = await failure(c.get(FID, 1, 10));
    expect(slow).toMatchObject({ code: 'RATE_LIMITED', message: `Storage server ${NAME} answered 429 (RATE_LIMITED).` });
    expect(slow.details).toEqual({ relayId: 'relay-id-1', relayName: NAME, status: 429, retryAfterMs: 7000 });
    answer = (_req, res) => json(res, 403, { error: { code: 'TOKEN_OUT_OF_SCOPE' } });
    expect(await failure(c.get(FID, 1, 10))).toMatchObject({ code: 'TOKEN_OUT_OF_SCOPE', message: `Storage server ${NAME} answered 403 (TOKEN_OUT_OF_SCOPE).` });
    const dead = await failure(new RelayClient({ id: 'r2', name: 'relay-two', url: 'http://127.0.0.1:1' }, { token: () => 't', retry: { attempts: 1 } }).get(FID, 1, 10));
    expect(dead).toMatchObject({ code: 'RELAYS_OFFLINE', message: 'Storage server relay-two is not reachable.', details: { relayId: 'r2', relayName: 'relay-two', status: 0 } });
    expect(dead.cause).toBeDefined();
  });

  it('an error body that stalls is a timeout, not the status', async () => {
    answer = (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"error":');
    };
    expect(await failure(client({ retry: { attempts: 1 } }).get(FID, 1, 10))).toMatchObject({ code: 'RELAY_TIMEOUT', message: `Storage server ${NAME} stopped sending for 1 s.` });
  });

  it('a declared length over the bound is refused before any byte is awaited (plain and BYOB reads)', async () => {
    answer = (_req, res) => {
      res.writeHead(200, { 'content-length': '50' });
      res.write('x'); // and then nothing: only the declared length can refuse it in time
    };
    const relaxed = client({ timeouts: RELAXED });
    expect(await failure(relaxed.get(FID, 1, 10))).toMatchObject({ code: 'RELAY_ANSWER_TOO_LARGE', message: `Storage server ${NAME} sent more than the 10 bytes expected.`, details: { status: 200 } });
    expect(await failure(relaxed.getInto(FID, 1, new ArrayBuffer(10)))).toMatchObject({ code: 'RELAY_ANSWER_TOO_LARGE', message: `Storage server ${NAME} sent more than the 10 bytes expected.` });
  }, 5_000);
});

describe('timeouts, retries and aborts', () => {
  it('a PUT waits putHeadersMs for its answer, other requests headersMs', async () => {
    answer = (req, res) => void later(600).then(() => (req.method === 'PUT' ? json(res, 201, { index: 1, size: 1, digest: DIGEST }) : res.end('ok')));
    const putPatient = client({ timeouts: { headersMs: 200, putHeadersMs: 5_000, idleMs: 5_000, totalMs: 10_000 }, retry: { attempts: 1 } });
    expect(await putPatient.put(FID, 1, new Uint8Array([1]))).toEqual({ index: 1, size: 1, digest: DIGEST });
    expect(await failure(putPatient.get(FID, 1, 10))).toMatchObject({ code: 'RELAY_TIMEOUT', message: `Storage server ${NAME} did not answer within 0.2 s.` });
    const getPatient = client({ timeouts: { headersMs: 5_000, putHeadersMs: 200, idleMs: 5_000, totalMs: 10_000 }, retry: { attempts: 1 } });
    expect(new TextDecoder().decode(await getPatient.get(FID, 1, 10))).toBe('ok');
    expect(await failure(getPatient.put(FID, 1, new Uint8Array([1])))).toMatchObject({ code: 'RELAY_TIMEOUT' });
  });

  it('backs off base x 2^attempt between retries', async () => {
    answer = (_req, res) => (seen.length < 3 ? json(res, 503, {}) : res.end('ok'));
    const t = performance.now();
    await client({ retry: { baseDelayMs: 150, maxDelayMs: 10_000 } }).get(FID, 1, 10);
    // 150 x 2 + 150 x 4 = 900 ms at least (a base divided by 2^attempt would be 75 + 37 ms).
    expect(performance.now() - t).toBeGreaterThanOrEqual(880);
    expect(seen).toHaveLength(3);
  });

  it('a token refused as expired is renewed at once; refused again, after the backoff; a later retry asks for an ordinary token', async () => {
    const asked: boolean[] = [];
    answer = (req, res) => {
      if (seen.length <= 2) {
        json(res, 401, { error: { code: 'TOKEN_EXPIRED' } });
        return;
      }
      if (seen.length === 3) {
        json(res, 503, {});
        return;
      }
      res.end(req.headers.authorization);
    };
    const c = client({ token: (_op, refresh) => (asked.push(refresh), refresh ? 'fresh' : 'plain'), retry: { baseDelayMs: 150, maxDelayMs: 10_000 } });
    const t = performance.now();
    expect(new TextDecoder().decode(await c.get(FID, 1, 100))).toBe('Bearer plain');
    // Expired: renewed without a wait; expired again: 150 x 2^2 = 600 ms, then renewed; a 503: 150 x 2^3.
    expect(asked).toEqual([false, true, true, false]);
    expect(performance.now() - t).toBeGreaterThanOrEqual(600 + 1200 - 20);
  });

  it('the first renewal of an expired token does not wait', async () => {
    answer = (req, res) => (req.headers.authorization === 'Bearer fresh' ? res.end('ok') : json(res, 401, { error: { code: 'TOKEN_EXPIRED' } }));
    const c = client({ token: (_op, refresh) => (refresh ? 'fresh' : 'old'), retry: { baseDelayMs: 4_000, maxDelayMs: 10_000 } });
    expect(new TextDecoder().decode(await c.get(FID, 1, 10))).toBe('ok');
  }, 3_000);

  it("the caller's abort cuts a request in flight at once, and one waiting out a Retry-After", async () => {
    answer = () => undefined; // never answers: only the abort can end it before the relaxed timeouts
    const ac = new AbortController();
    setTimeout(() => ac.abort(new DOMException('stop', 'AbortError')), 50);
    await expect(client({ timeouts: RELAXED }).get(FID, 1, 10, ac.signal)).rejects.toMatchObject({ name: 'AbortError' });
    answer = (_req, res) => json(res, 503, {}, { 'retry-after': '8' });
    const again = new AbortController();
    setTimeout(() => again.abort(new DOMException('stop', 'AbortError')), 200);
    await expect(client({ timeouts: RELAXED, retry: { maxRetryAfterMs: 10_000 } }).get(FID, 1, 10, again.signal)).rejects.toMatchObject({ name: 'AbortError' });
    // The first request, and one try of the second: the abort came during its Retry-After wait.
    expect(seen).toHaveLength(2);
  }, 4_000);

  it('an attempt leaves no timer behind once its answer is read (a CLI would otherwise wait out the total bound before exiting)', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    answer = (_req, res) => res.end('ok');
    const c = client({ timeouts: RELAXED });
    await c.get(FID, 1, 10); // the client's first request sets up what it keeps (connections), not timers
    const before = timers();
    expect(new TextDecoder().decode(await c.get(FID, 1, 10))).toBe('ok');
    expect(timers()).toBe(before);
  });

  it('a JSON answer is read up to its bound', async () => {
    answer = (_req, res) => json(res, 200, { deleted: true, pad: 'x'.repeat(MAX_JSON_ANSWER_BYTES - 40) });
    expect(await client().deleteChunk(FID, 1)).toBe(true);
  });
});
