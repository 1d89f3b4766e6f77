/**
 * peerGet and its sinks (peer-read.ts), against real sockets on 127.0.0.1: a raw TCP server writes exactly
 * the answer each case needs (pieces of odd sizes, lies about the length, silence), so the bounds a repair
 * receiver relies on are checked as a hostile or broken helper would test them.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { hasErrorCode, xorInto } from '@kofn/shared';
import { Gather, TermAdder, peerGet, type BodySink } from './peer-read.js';

const servers: Server[] = [];
const sockets = new Set<Socket>();

/** A server that answers every request on a connection with `answer(socket)`; answers its URL. */
async function serve(answer: (socket: Socket) => void): Promise<string> {
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let head = '';
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        head = '';
        answer(socket);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/t`;
}

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((res) => s.close(res))));
});

const head = (status: number, headers: Record<string, string>) =>
  `HTTP/1.1 ${status} X\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

/** Writes `body` in pieces of the given sizes, one per event-loop turn, so the reader sees them apart. */
async function writeInPieces(socket: Socket, body: Buffer, sizes: number[]): Promise<void> {
  let at = 0;
  for (let i = 0; at < body.length; i++) {
    const n = sizes[i % sizes.length]!;
    socket.write(body.subarray(at, at + n));
    at += n;
    await new Promise((res) => setTimeout(res, 1));
  }
}

const code = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (err: unknown) => (hasErrorCode(err) ? err.code : String(err))
  );

const bounds = { maxBytes: 1024 * 1024, timeoutMs: 5_000 };
const noSink = (): BodySink => {
  throw new Error('no body was expected');
};

describe('peerGet', () => {
  it('adds a term arriving in pieces of odd sizes into the sum, exactly as a whole-buffer XOR would', async () => {
    const term = Buffer.from(Array.from({ length: 200_003 }, (_, i) => (i * 31 + 7) & 255));
    const url = await serve((s) => {
      s.write(head(200, { 'content-length': String(term.length), 'x-kofn-flags': '2' }));
      void writeInPieces(s, term, [1, 7, 65_537, 3, 4096, 99_999]);
    });
    // The sum already holds another term; the header's 40 bytes sit in front, as in a rebuilt chunk.
    const other = Buffer.from(Array.from({ length: term.length }, (_, i) => (i * 13) & 255));
    const chunk = Buffer.alloc(40 + term.length);
    other.copy(chunk, 40);
    const got = await peerGet(url, {}, bounds, (h) => new TermAdder(chunk.subarray(40, 40 + h.length)));
    expect([got.status, got.length, got.headers['x-kofn-flags']]).toEqual([200, term.length, '2']);
    const want = Buffer.from(other);
    xorInto(want, term);
    expect(chunk.subarray(40).equals(want)).toBe(true);
  });

  it('gathers a body into one buffer of its declared length', async () => {
    const body = Buffer.from('a share chunk, sent whole');
    const url = await serve((s) => {
      s.write(head(200, { 'content-length': String(body.length) }));
      s.write(body);
    });
    let g: Gather | undefined;
    await peerGet(url, {}, bounds, (h) => (g = new Gather(h.length)));
    expect(g?.bytes.toString()).toBe(body.toString());
  });

  it('answers an error status without reading its body or calling the sink', async () => {
    const url = await serve((s) => s.end(head(409, { 'content-length': '5' }) + 'no no'));
    expect((await peerGet(url, {}, bounds, noSink)).status).toBe(409);
  });

  it('refuses a length over the bound before reading the body, one without a declared length, and one that lies', async () => {
    const over = await serve((s) => s.write(head(200, { 'content-length': String(bounds.maxBytes + 1) })));
    expect(await code(peerGet(over, {}, bounds, noSink))).toBe('RELAY_ANSWER_TOO_LARGE');
    // Chunked (no length): an honest helper always declares it.
    const chunked = await serve((s) => s.end(head(200, { 'transfer-encoding': 'chunked' }) + '5\r\nhello\r\n0\r\n\r\n'));
    expect(await code(peerGet(chunked, {}, bounds, noSink))).toBe('RELAY_BAD_ANSWER');
    // Shorter than declared, then the connection closes.
    const short = await serve((s) => s.end(head(200, { 'content-length': '100' }) + 'x'.repeat(60)));
    let seen = 0;
    expect(await code(peerGet(short, {}, bounds, () => ({ write: (p) => void (seen += p.length), end: () => undefined })))).toBe('RELAY_BAD_ANSWER');
    expect(seen).toBe(60);
  });

  it('gives up on a peer that goes silent mid-body at the deadline, and on a sibling\u2019s abort', async () => {
    const url = await serve((s) => s.write(head(200, { 'content-length': '1000' }) + 'x'.repeat(10)));
    const t = performance.now();
    expect(await code(peerGet(url, {}, { ...bounds, timeoutMs: 300 }, () => new Gather(1000)))).toBe('RELAY_TIMEOUT');
    expect(performance.now() - t).toBeLessThan(3_000);
    const stop = new AbortController();
    const p = code(peerGet(url, {}, { ...bounds, signal: stop.signal }, () => new Gather(1000)));
    setTimeout(() => stop.abort(), 50);
    expect(await p).toBe('RELAY_TIMEOUT');
  });

  it('a sink that refuses (a term of another length) fails the read with its error', async () => {
    const url = await serve((s) => s.end(head(200, { 'content-length': '8' }) + '12345678'));
    const sum = new Uint8Array(4);
    expect(await code(peerGet(url, {}, bounds, () => new TermAdder(sum)))).toBe('SHARE_LENGTH_MISMATCH');
  });
});
