/**
 * sendFile (send-file.ts) against a real node:http server and client on loopback, with real files: bytes
 * arrive whole and in order across block edges; a client that goes away or a file shorter than its
 * recorded size ends the answer short (never with wrong bytes) and settles the call; blocks go back to the
 * pool only once their writes are over, each once (block-pool.ts refuses a second give-back).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from '@kofn/shared';
import { BLOCK_BYTES, freeBlocks } from './block-pool.js';
import { sendFile } from './send-file.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const dir = mkdtempSync(join(tmpdir(), 'kofn-send-file-'));
let server: Server | undefined;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

afterEach(async () => {
  await new Promise<void>((res) => {
    if (!server) {
      res();
      return;
    }
    server.closeAllConnections();
    server.close(() => res());
  });
  server = undefined;
});

/** Serves `path` with Content-Length `size`; resolves each answer's sendFile outcome into `outcomes`. */
async function serve(path: string, size: number, outcomes: Array<Promise<string>>): Promise<number> {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Length': String(size) });
    outcomes.push(
      open(path, 'r').then(async (fh) => {
        try {
          await sendFile(fh, size, res);
          return 'sent';
        } catch (err) {
          return `failed: ${(err as Error).message}`;
        } finally {
          await fh.close();
        }
      })
    );
  });
  await new Promise<void>((res) => server!.listen(0, '127.0.0.1', res));
  return (server.address() as AddressInfo).port;
}

/** GETs the answer; `stopAfter` bytes, if given, makes the client go away once it has that many. */
function fetchBody(port: number, stopAfter?: number): Promise<{ bytes: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      const parts: Buffer[] = [];
      let got = 0;
      res.on('data', (d: Buffer) => {
        parts.push(d);
        got += d.length;
        if (stopAfter !== undefined && got >= stopAfter) req.destroy();
      });
      res.on('end', () => resolve({ bytes: Buffer.concat(parts), complete: res.complete }));
      res.on('error', () => resolve({ bytes: Buffer.concat(parts), complete: false }));
      res.on('aborted', () => resolve({ bytes: Buffer.concat(parts), complete: false }));
    });
    req.on('error', (err) => (stopAfter === undefined ? reject(err) : undefined));
    req.on('close', () => undefined);
  });
}

describe('sendFile', () => {
  it('sends files of 0, 1, a block less one, a block and several blocks plus a tail, byte for byte', async () => {
    for (const size of [0, 1, BLOCK_BYTES - 1, BLOCK_BYTES, 3 * BLOCK_BYTES + 7]) {
      const bytes = randomBytes(size);
      const path = join(dir, `whole-${size}`);
      writeFileSync(path, bytes);
      const outcomes: Array<Promise<string>> = [];
      const port = await serve(path, size, outcomes);
      const got = await fetchBody(port);
      expect(got.complete).toBe(true);
      expect(got.bytes.length).toBe(size);
      expect(sha(got.bytes)).toBe(sha(bytes));
      expect(await outcomes[0]).toBe('sent');
      await new Promise<void>((res) => server!.close(() => res()));
      server = undefined;
    }
    // Both blocks of each answer came back (the pool keeps at most 32).
    expect(freeBlocks()).toBeGreaterThanOrEqual(2);
  });

  it('a client that goes away mid-answer ends the call (no hang), and the bytes it got are a true prefix', async () => {
    const size = 16 * BLOCK_BYTES; // 4 MiB: more than loopback buffers hold, so writes are still pending
    const bytes = randomBytes(size);
    const path = join(dir, 'abandoned');
    writeFileSync(path, bytes);
    const outcomes: Array<Promise<string>> = [];
    const port = await serve(path, size, outcomes);
    const got = await fetchBody(port, 100_000);
    expect(got.complete).toBe(false);
    expect(got.bytes.length).toBeLessThan(size);
    expect(got.bytes.equals(Buffer.from(bytes.subarray(0, got.bytes.length)))).toBe(true);
    expect(await outcomes[0]).toMatch(/^failed: /);
  });

  it('a file shorter than its recorded size ends the answer short, never padded, and reports it', async () => {
    const bytes = randomBytes(BLOCK_BYTES + 10);
    const path = join(dir, 'truncated');
    writeFileSync(path, bytes);
    const outcomes: Array<Promise<string>> = [];
    const port = await serve(path, bytes.length + 5000, outcomes);
    const got = await fetchBody(port);
    expect(got.complete).toBe(false);
    expect(got.bytes.equals(Buffer.from(bytes))).toBe(true);
    expect(await outcomes[0]).toBe('failed: the chunk file is shorter than its recorded size');
  });

  it('many answers at once share the pool without handing one block to two answers', async () => {
    const size = 2 * BLOCK_BYTES + 123;
    const bytes = randomBytes(size);
    const path = join(dir, 'concurrent');
    writeFileSync(path, bytes);
    const outcomes: Array<Promise<string>> = [];
    const port = await serve(path, size, outcomes);
    const all = await Promise.all(Array.from({ length: 24 }, () => fetchBody(port)));
    for (const got of all) expect(sha(got.bytes)).toBe(sha(bytes));
    // A block given back twice would have thrown inside sendFile's cleanup and failed an answer.
    expect(await Promise.all(outcomes)).toEqual(Array.from({ length: 24 }, () => 'sent'));
    expect(freeBlocks()).toBeLessThanOrEqual(32);
  });
});
