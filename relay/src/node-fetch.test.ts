import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayClient } from '@kofn/shared';
import { nodeFetch } from './node-fetch.js';

let server: Server | undefined;
let raw: NetServer | undefined;

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((res) => server!.listen(0, '127.0.0.1', res));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const sockets = new Set<Socket>();

afterEach(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((res) => server!.close(res));
  }
  for (const s of sockets) s.destroy();
  sockets.clear();
  if (raw) await new Promise((res) => raw!.close(res));
  server = undefined;
  raw = undefined;
});

const settled = (p: Promise<unknown>) =>
  p.then(
    () => true,
    () => true
  );

describe('nodeFetch', () => {
  it('sends a byte body as it is and answers the status, headers and body', async () => {
    const url = await serve((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (p: Buffer) => parts.push(p));
      req.on('end', () => {
        const got = Buffer.concat(parts);
        res.writeHead(201, { 'content-type': 'application/json', 'x-seen': String(req.headers['x-kofn-check-pad']) });
        res.end(JSON.stringify({ method: req.method, length: got.length, length_header: req.headers['content-length'], sum: got.reduce((a, b) => (a + b) % 65521, 0) }));
      });
    });
    const body = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => (i * 7) & 255);
    const res = await nodeFetch(`${url}/v1/x`, { method: 'PUT', headers: { 'x-kofn-check-pad': 'abc' }, body });
    expect(res.status).toBe(201);
    expect(res.ok).toBe(true);
    expect(res.headers.get('x-seen')).toBe('abc');
    expect(await res.json()).toEqual({ method: 'PUT', length: body.length, length_header: String(body.length), sum: body.reduce((a, b) => (a + b) % 65521, 0) });
  });

  it('settles only once the body is written, even when the answer comes first', async () => {
    // A server that answers at once and never reads (node:http would drain or drop the body itself): 16 MiB
    // cannot fit in the sockets' buffers, so the body is still being written when the answer is in, and the
    // caller, who reuses and wipes its buffer once the send settles, must not be told before.
    raw = createNetServer((socket) => {
      sockets.add(socket);
      socket.pause();
      socket.write('HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}');
    });
    await new Promise<void>((res) => raw!.listen(0, '127.0.0.1', res));
    const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
    const ctl = new AbortController();
    const p = nodeFetch(url, { method: 'PUT', body: new Uint8Array(16 * 1024 * 1024), signal: ctl.signal });
    let done = false;
    void settled(p).then(() => (done = true));
    await new Promise((res) => setTimeout(res, 500));
    expect(done).toBe(false);
    ctl.abort(new Error('gave up'));
    await settled(p);
    expect(done).toBe(true);
  });

  it('an aborted request rejects, before or while it is sent', async () => {
    const url = await serve(() => undefined); // never answers
    const early = new AbortController();
    early.abort(new Error('early'));
    await expect(nodeFetch(url, { signal: early.signal })).rejects.toThrow('early');
    const late = new AbortController();
    const p = nodeFetch(url, { method: 'PUT', body: new Uint8Array(10), signal: late.signal });
    setTimeout(() => late.abort(new Error('late')), 50);
    await expect(p).rejects.toThrow();
  });

  it('stops the answer’s body when the signal fires mid-body', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(10)); // then silence
    });
    const ctl = new AbortController();
    const res = await nodeFetch(url, { signal: ctl.signal });
    const reader = res.body!.getReader();
    expect((await reader.read()).value?.length).toBe(10);
    const next = reader.read();
    ctl.abort(new Error('idle'));
    await expect(next).rejects.toThrow();
  });

  it('answers a null body for 204 and refuses a status fetch would not accept', async () => {
    const url = await serve((req, res) => {
      res.writeHead(req.url === '/odd' ? 600 : 204);
      res.end();
    });
    const empty = await nodeFetch(`${url}/none`, { method: 'DELETE' });
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
    await expect(nodeFetch(`${url}/odd`)).rejects.toThrow(RangeError);
  });

  it('hands other bodies to the global fetch', async () => {
    const url = await serve((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (p: Buffer) => parts.push(p));
      req.on('end', () => res.end(Buffer.concat(parts).toString()));
    });
    const res = await nodeFetch(url, { method: 'POST', body: new Blob(['from a blob']) });
    expect(await res.text()).toBe('from a blob');
  });
});

/**
 * The dealer's contributions go through RelayClient with this transport: its bounds must hold exactly as with
 * fetch (shared/src/protocol/relay-client.test.ts has the same faults against fetch).
 */
describe('RelayClient over nodeFetch (a dealer’s contributions)', () => {
  const FID = 'ab'.repeat(16);
  const DIGEST = 'cd'.repeat(32);
  const FAST = { headersMs: 1_000, putHeadersMs: 1_000, idleMs: 1_000, totalMs: 4_000 };
  const client = (url: string) => new RelayClient({ id: 'r1', name: 'relay-one', url }, { token: () => 'tok', fetch: nodeFetch, timeouts: FAST, retry: { baseDelayMs: 10 } });

  it('stores a contribution with its check pad, retrying a 503 once', async () => {
    let calls = 0;
    let seen: unknown;
    const url = await serve((req, res) => {
      calls++;
      seen = { path: req.url, pad: req.headers['x-kofn-check-pad'], auth: req.headers.authorization };
      const parts: Buffer[] = [];
      req.on('data', (p: Buffer) => parts.push(p));
      req.on('end', () => {
        if (calls === 1) return void res.writeHead(503).end();
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ index: 2, size: Buffer.concat(parts).length, digest: DIGEST }));
      });
    });
    const got = await client(url).putContribution(FID, 1, 11, 2, new Uint8Array(5000), undefined, 'pad');
    expect(got).toEqual({ index: 2, size: 5000, digest: DIGEST });
    expect(calls).toBe(2);
    expect(seen).toEqual({ path: `/v1/files/${FID}/epochs/1/from/11/chunks/2`, pad: 'pad', auth: 'Bearer tok' });
  });

  it('gives RELAY_TIMEOUT when a contribution is never answered, without retrying', async () => {
    let calls = 0;
    const url = await serve((req) => {
      calls++;
      req.resume();
    });
    await expect(client(url).putContribution(FID, 1, 11, 2, new Uint8Array(5000))).rejects.toMatchObject({ code: 'RELAY_TIMEOUT', details: { relayName: 'relay-one' } });
    expect(calls).toBe(1);
  });

  it('gives RELAY_TIMEOUT when the answer stalls mid-body, and RELAY_ANSWER_TOO_LARGE for an endless one', async () => {
    const url = await serve((req, res) => {
      req.resume();
      res.writeHead(201, { 'content-type': 'application/json' });
      if (req.url?.endsWith('/1')) return void res.write('{"index":');
      const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(' '.repeat(64 * 1024))), 0);
    });
    await expect(client(url).putContribution(FID, 1, 11, 1, new Uint8Array(10))).rejects.toMatchObject({ code: 'RELAY_TIMEOUT', message: expect.stringContaining('stopped sending') });
    await expect(client(url).putContribution(FID, 1, 11, 2, new Uint8Array(10))).rejects.toMatchObject({ code: 'RELAY_ANSWER_TOO_LARGE' });
  });

  it('gives RELAYS_OFFLINE for a relay that is not there', async () => {
    const url = await serve(() => undefined);
    server!.close();
    server = undefined;
    await expect(client(url).putContribution(FID, 1, 11, 2, new Uint8Array(10))).rejects.toMatchObject({ code: 'RELAYS_OFFLINE' });
  });
});
