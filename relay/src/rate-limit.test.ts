/**
 * Issue #24 (gaps by reading): the shared RelayClient's retries and 429 handling against a REAL relay
 * process, not a stub. The relay runs with KOFN_RELAY_MAX_REQUESTS=1 and a client holds that one slot
 * with a PUT whose body it has not finished sending, so every other file request is answered 429
 * RATE_LIMITED with `Retry-After: 1`. The client must retry, wait what the relay asked (not its own short
 * backoff), stop after its bounded number of attempts, and fail with an error naming the relay.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KofnError, RelayClient } from '@kofn/shared';
import { startRelayProcess, type RelayProcess } from './testing/process.js';
import { newFileId, shareChunk } from './testing/chunks.js';
import { DEFAULT_LIMITS, RETRY_AFTER_S, limitsFromEnv } from './server-limits.js';

const RELAY_ID = '00000000-0000-4000-8000-0000000000ee';
const RELAY = { id: RELAY_ID, name: 'busy relay', url: '' };
/** Backoff far shorter than the relay's Retry-After, so the waits measured can only come from the header. */
const RETRY = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 10_000 };

let relay: RelayProcess;

/** Requests the client sent to the relay (the real fetch, counted). */
let sent: number[] = [];
const realFetch = globalThis.fetch;

beforeAll(async () => {
  relay = await startRelayProcess(RELAY_ID, { KOFN_RELAY_MAX_REQUESTS: '1' });
  RELAY.url = relay.url;
  globalThis.fetch = (input, init) => {
    if (String(input instanceof Request ? input.url : input).startsWith(relay.url)) sent.push(performance.now());
    return realFetch(input, init);
  };
}, 30_000);

afterAll(async () => {
  globalThis.fetch = realFetch;
  await relay?.stop();
});

/**
 * Holds the relay's one request slot: a PUT with valid headers whose body stops halfway. `finish` sends
 * the rest (the PUT then completes and frees the slot).
 */
async function holdSlot(): Promise<{ socket: Socket; finish: () => Promise<string> }> {
  const fid = newFileId();
  const token = await relay.signer.mint({ fid, op: 'put', chunks: [0, 10] });
  const body = shareChunk(fid, 1, 64 * 1024);
  const half = body.length >> 1;
  const socket = connect(relay.port, '127.0.0.1');
  let answer = '';
  socket.on('data', (d) => (answer += d.toString('latin1')));
  await new Promise<void>((res) => socket.once('connect', res));
  socket.write(`PUT /v1/files/${fid}/chunks/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${body.length}\r\n\r\n`);
  socket.write(body.subarray(0, half));
  // The relay has the request in hand once it answers others 429.
  for (let i = 0; i < 100; i++) {
    const probe = await realFetch(`${relay.url}/v1/files/${fid}/chunks`, { headers: { Authorization: 'Bearer x' } });
    await probe.arrayBuffer();
    if (probe.status === 429) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    socket,
    finish: async () => {
      socket.write(body.subarray(half));
      for (let i = 0; i < 200 && !/\r\n\r\n\{.*\}/s.test(answer); i++) await new Promise((r) => setTimeout(r, 10));
      socket.destroy();
      return answer;
    }
  };
}

describe('putShare against a real relay that answers 429 with Retry-After', () => {
  it('the relay setting: KOFN_RELAY_MAX_REQUESTS, default 256, positive integers only', () => {
    expect(DEFAULT_LIMITS.maxRequests).toBe(256);
    expect(limitsFromEnv({ KOFN_RELAY_MAX_REQUESTS: '3' }).maxRequests).toBe(3);
    expect(() => limitsFromEnv({ KOFN_RELAY_MAX_REQUESTS: '0' })).toThrow(/KOFN_RELAY_MAX_REQUESTS/);
  });

  it('a busy relay answers 429 RATE_LIMITED with Retry-After, and counts even requests with bad tokens', async () => {
    const held = await holdSlot();
    try {
      const res = await realFetch(`${relay.url}/v1/files/${newFileId()}/chunks/1`, { method: 'PUT', body: new Uint8Array(10), headers: { Authorization: 'Bearer nonsense' } });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe(String(RETRY_AFTER_S));
      expect(await res.json()).toEqual({ error: { code: 'RATE_LIMITED', message: 'The storage server is busy; try again shortly.' } });
      // Pings and health stay answered: they are not file requests.
      expect((await realFetch(`${relay.url}/v1/ping`)).status).toBe(204);
    } finally {
      expect(await held.finish()).toMatch(/^HTTP\/1\.1 201/);
    }
  });

  it('retries honouring Retry-After, at most `attempts` times, then fails naming the relay', async () => {
    const held = await holdSlot();
    const fid = newFileId();
    const token = await relay.signer.mint({ fid, op: 'put', chunks: [0, 10] });
    const client = new RelayClient(RELAY, { token: () => token, retry: RETRY });
    sent = [];
    const t0 = performance.now();
    let err: unknown;
    try {
      await client.put(fid, 1, shareChunk(fid, 1, 1000));
    } catch (e) {
      err = e;
    } finally {
      await held.finish();
    }
    const took = performance.now() - t0;
    expect(err).toBeInstanceOf(KofnError);
    const e = err as KofnError;
    expect(e.code).toBe('RATE_LIMITED');
    expect(e.message).toBe('Storage server busy relay answered 429 (RATE_LIMITED).');
    expect(e.details).toMatchObject({ relayId: RELAY_ID, relayName: 'busy relay', status: 429, retryAfterMs: RETRY_AFTER_S * 1000 });
    // Exactly `attempts` requests, each after the relay's Retry-After (the client's own backoff is 10-20 ms).
    expect(sent.length).toBe(RETRY.attempts);
    for (let i = 1; i < sent.length; i++) expect(sent[i]! - sent[i - 1]!).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000 - 20);
    expect(took).toBeGreaterThanOrEqual((RETRY.attempts - 1) * RETRY_AFTER_S * 1000 - 20);
    expect(took).toBeLessThan(RETRY.attempts * RETRY_AFTER_S * 1000 + 2_000);
    // Nothing was stored by the refused PUTs.
    const get = await realFetch(`${relay.url}/v1/files/${fid}/chunks/1`, { headers: { Authorization: `Bearer ${await relay.signer.mint({ fid, op: 'get', chunks: [0, 10] })}` } });
    expect(get.status).toBe(404);
    await get.arrayBuffer();
  }, 30_000);

  it('a PUT refused while the relay is busy is retried after Retry-After and stored once the relay has room', async () => {
    const held = await holdSlot();
    const fid = newFileId();
    const token = await relay.signer.mint({ fid, op: 'put', chunks: [0, 10] });
    const client = new RelayClient(RELAY, { token: () => token, retry: RETRY });
    sent = [];
    const chunk = shareChunk(fid, 1, 1000);
    const putting = client.put(fid, 1, chunk);
    // The first attempt is refused; the slot frees before the relay's Retry-After has passed.
    for (let i = 0; i < 200 && sent.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 200));
    await held.finish();
    const stored = await putting;
    expect(stored).toMatchObject({ index: 1, size: chunk.length });
    expect(sent.length).toBe(2);
    expect(sent[1]! - sent[0]!).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000 - 20);
    const back = await new RelayClient(RELAY, { token: async () => relay.signer.mint({ fid, op: 'get', chunks: [0, 10] }) }).get(fid, 1, chunk.length);
    expect(Buffer.from(back).equals(Buffer.from(chunk))).toBe(true);
  }, 30_000);
});
