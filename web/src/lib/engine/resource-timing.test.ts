import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { networkMs, timedFetch } from './resource-timing';

describe('networkMs', () => {
  it('counts from the request to the last byte when the relay grants timing (Timing-Allow-Origin)', () => {
    expect(networkMs({ fetchStart: 100, requestStart: 130, responseEnd: 133.5 })).toBe(3.5);
  });
  it('starts at fetchStart when a cross-origin entry hides requestStart (0)', () => {
    expect(networkMs({ fetchStart: 100, requestStart: 0, responseEnd: 104 })).toBe(4);
  });
  it('never reads negative', () => {
    expect(networkMs({ fetchStart: 100, requestStart: 0, responseEnd: 0 })).toBe(0);
  });
});

describe('timedFetch against a real HTTP server', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/v1/ping') {
        res.writeHead(204).end();
      } else res.writeHead(404, { 'content-type': 'text/plain' }).end('x'.repeat(1 << 20));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('returns the response and a finite, non-negative time, from Resource Timing where the runtime records it', async () => {
    const { res, ms, source } = await timedFetch(`${url}/v1/ping`);
    expect(res.status).toBe(204);
    expect(Number.isFinite(ms)).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(0);
    // Node 20's fetch (undici) records resource entries too; the clock is only the fallback.
    expect(source).toBe('resource-timing');
  });

  it('cancels a body it was not meant to get instead of buffering it', async () => {
    const { res } = await timedFetch(`${url}/other`);
    expect(res.status).toBe(404);
    // Cancelled unread: the stream is disturbed, and nothing is left to read.
    expect(res.bodyUsed).toBe(true);
  });
});
