import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_CONNECTIONS_PER_HOST, relayClient, relaySlotsPerWorker, useRelaySlots } from './relay-http';

/** A loopback stand-in for a relay's GET route: each test sets how it answers. */
let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
let requests = 0;
let server: Server;
let url = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    requests += 1;
    answer(req, res);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((res) => server.close(() => res())));

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const get = (into: ArrayBuffer) => relayClient({ url, relayId: 'relay-1', name: 'relay one', token: 'token' }, { headersMs: 2000 }).getInto('ab'.repeat(16), 3, into);

describe('relayClient(...).getInto', () => {
  it('reads a body that arrives in pieces into the given memory, and sends the token', async () => {
    const body = bytes(150_000, 1);
    let auth: string | undefined;
    answer = (req, res) => {
      auth = req.headers.authorization;
      res.write(body.subarray(0, 70_000));
      setTimeout(() => res.end(body.subarray(70_000)), 20);
    };
    const into = new ArrayBuffer(200_000);
    const got = await get(into);
    expect(auth).toBe('Bearer token');
    expect(got.byteLength).toBe(body.length);
    expect(got.buffer.byteLength).toBe(200_000);
    expect(into.byteLength).toBe(0); // detached: its memory moved to the answer's buffer
    expect(Buffer.from(got).equals(Buffer.from(body))).toBe(true);
  });

  it('accepts a body that fills the buffer exactly', async () => {
    const body = bytes(4096, 2);
    answer = (_req, res) => res.end(body);
    const got = await get(new ArrayBuffer(4096));
    expect(Buffer.from(got).equals(Buffer.from(body))).toBe(true);
  });

  it('refuses a body longer than any share chunk of the file, naming the relay', async () => {
    answer = (_req, res) => res.end(bytes(4097, 3));
    await expect(get(new ArrayBuffer(4096))).rejects.toMatchObject({ code: 'RELAY_ANSWER_TOO_LARGE', details: { relayId: 'relay-1', relayName: 'relay one' } });
  });

  it('gives RELAY_TIMEOUT naming the relay when it never answers', async () => {
    answer = () => undefined;
    await expect(get(new ArrayBuffer(16))).rejects.toMatchObject({ code: 'RELAY_TIMEOUT', message: 'Storage server relay one did not answer within 2 s.' });
  });

  it("gives a relay's 4xx error code at once, without retrying", async () => {
    requests = 0;
    answer = (_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'TOKEN_OUT_OF_SCOPE', message: 'Not this file.' } }));
    };
    await expect(get(new ArrayBuffer(16))).rejects.toMatchObject({ code: 'TOKEN_OUT_OF_SCOPE', details: { status: 403 } });
    expect(requests).toBe(1);
  });

  it('retries a 503 and then reads the share', async () => {
    requests = 0;
    const body = bytes(1000, 4);
    answer = (_req, res) => {
      if (requests === 1) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'Busy.' } }));
      } else res.end(body);
    };
    const got = await get(new ArrayBuffer(1000));
    expect(requests).toBe(2);
    expect(Buffer.from(got).equals(Buffer.from(body))).toBe(true);
  });
});

describe("the browser's connections to one relay", () => {
  it('are divided among the share workers: six, three each for two, at least one', () => {
    expect([1, 2, 3, 4, 8].map(relaySlotsPerWorker)).toEqual([6, 3, 2, 1, 1]);
  });

  it("a worker's part bounds its requests to one relay at once", async () => {
    useRelaySlots(2);
    let open = 0;
    let most = 0;
    answer = (_req, res) => {
      open += 1;
      most = Math.max(most, open);
      setTimeout(() => {
        open -= 1;
        res.end(bytes(64, 5));
      }, 30);
    };
    try {
      const got = await Promise.all(Array.from({ length: 6 }, () => get(new ArrayBuffer(64))));
      expect(got).toHaveLength(6);
      expect(most).toBe(2);
    } finally {
      useRelaySlots(CHROMIUM_CONNECTIONS_PER_HOST);
    }
  });
});
