/**
 * ingest() on its own (issue #24: survivors of Stryker on relay/src/storage/ingest.ts): the size limit at
 * its edge, the share header assembled from reads of any size, bodies larger than one write batch, the
 * Content-Length check, a client that goes away, and each refusal's code and words. Real spool files on
 * a real disk; nothing is left in the spool folder after a refusal.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HEADER_BYTES } from '@kofn/shared';
import { ingest } from './ingest.js';
import { BLOCK_BYTES, freeBlocks } from './block-pool.js';
import { newFileId, shareChunk } from '../testing/chunks.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A body delivered in pieces of `piece` bytes (the last one shorter). */
function body(bytes: Uint8Array, piece = bytes.length): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) {
        c.close();
        return;
      }
      c.enqueue(bytes.slice(at, at + piece));
      at += piece;
    }
  });
}

const spool = (): string => mkdtempSync(join(tmpdir(), 'kofn-ingest-'));

async function refusal(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (err: unknown) => `${(err as { code?: string }).code}: ${(err as Error).message}`
  );
}

describe('ingest', () => {
  it('spools a chunk whose header arrives one byte at a time, with its size and SHA-256, readable by the owner only', async () => {
    const dir = spool();
    const fid = newFileId();
    const chunk = shareChunk(fid, 3, 500);
    const out = await ingest(body(chunk, 1), { spoolDir: dir, maxBytes: 1 << 20, fileId: fid, index: 3 });
    expect(out.size).toBe(chunk.length);
    expect(out.digest).toBe(sha(chunk));
    expect(readFileSync(out.path).equals(Buffer.from(chunk))).toBe(true);
    expect(statSync(out.path).mode & 0o777).toBe(0o600);
  });

  it('writes a body of many write batches (and pieces that straddle them) whole and in order', async () => {
    const dir = spool();
    const fid = newFileId();
    // 1 MiB + 7 in 64 KiB + 3 pieces: several 256 KiB batches and a remainder.
    const chunk = shareChunk(fid, 1, (1 << 20) + 7 - HEADER_BYTES);
    const out = await ingest(body(chunk, 65_539), { spoolDir: dir, maxBytes: 2 << 20, fileId: fid, index: 1 });
    expect(out.digest).toBe(sha(chunk));
    expect(sha(readFileSync(out.path))).toBe(sha(chunk));
  });

  it('takes a body of exactly the limit, and refuses one byte more without keeping any of it', async () => {
    const dir = spool();
    const fid = newFileId();
    const chunk = shareChunk(fid, 1, 160);
    expect((await ingest(body(chunk, 50), { spoolDir: dir, maxBytes: chunk.length, fileId: fid, index: 1 })).size).toBe(200);
    const dir2 = spool();
    expect(await refusal(ingest(body(chunk, 50), { spoolDir: dir2, maxBytes: chunk.length - 1, fileId: fid, index: 1 }))).toBe('PAYLOAD_TOO_LARGE: Share chunk over 199 bytes.');
    expect(readdirSync(dir2)).toEqual([]);
  });

  it('checks the body against Content-Length exactly', async () => {
    const fid = newFileId();
    const chunk = shareChunk(fid, 1, 60);
    const dir = spool();
    expect((await ingest(body(chunk), { spoolDir: dir, maxBytes: 1000, expectedLength: 100, fileId: fid, index: 1 })).size).toBe(100);
    for (const expectedLength of [99, 101]) {
      expect(await refusal(ingest(body(chunk), { spoolDir: dir, maxBytes: 1000, expectedLength, fileId: fid, index: 1 }))).toBe('BAD_REQUEST: Body length does not match Content-Length.');
    }
    expect(readdirSync(dir)).toHaveLength(1); // the accepted one only
  });

  it('words each refusal of the body, and leaves no spool file', async () => {
    const dir = spool();
    const fid = newFileId();
    const opts = { spoolDir: dir, maxBytes: 1 << 20, fileId: fid, index: 2 };
    const chunk = shareChunk(fid, 2, 100);
    expect(await refusal(ingest(null, opts))).toBe('BAD_REQUEST: Expected a share chunk body.');
    expect(await refusal(ingest(body(shareChunk(fid, 3, 100)), opts))).toBe('BAD_SHARE_FORMAT: Share header names another file or chunk than the URL.');
    expect(await refusal(ingest(body(shareChunk(newFileId(), 2, 100)), opts))).toBe('BAD_SHARE_FORMAT: Share header names another file or chunk than the URL.');
    expect(await refusal(ingest(body(chunk.subarray(0, 120)), opts))).toBe('BAD_SHARE_FORMAT: Share chunk length does not match its header.');
    expect(await refusal(ingest(body(chunk.subarray(0, 20)), opts))).toBe('BAD_SHARE_FORMAT: Share chunk length does not match its header.');
    const bad = chunk.slice();
    bad[0] = 0x58; // not the KOFN magic: the header parser's own words, as BAD_SHARE_FORMAT
    expect(await refusal(ingest(body(bad), opts))).toMatch(/^BAD_SHARE_FORMAT: /);
    expect(await refusal(ingest(body(bad), opts))).not.toBe('BAD_SHARE_FORMAT: Share chunk length does not match its header.');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a client that goes away mid-body is bad input (400), and its partial spool file is removed', async () => {
    const dir = spool();
    const fid = newFileId();
    const chunk = shareChunk(fid, 1, 1000);
    let sent = false;
    const broken = new ReadableStream<Uint8Array>({
      pull(c) {
        if (!sent) {
          sent = true;
          c.enqueue(chunk.slice(0, 300));
        } else c.error(new Error('socket hang up'));
      }
    });
    expect(await refusal(ingest(broken, { spoolDir: dir, maxBytes: 1 << 20, fileId: fid, index: 1 }))).toBe('BAD_REQUEST: The upload was interrupted before its end.');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('stops reading a body over the limit and cancels it (a client sending forever is not read to its end)', async () => {
    const dir = spool();
    const fid = newFileId();
    const head = shareChunk(fid, 1, 100);
    let pulls = 0;
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        pulls++;
        c.enqueue(pulls === 1 ? head : new Uint8Array(1000));
      },
      cancel() {
        cancelled = true;
      }
    });
    expect((await refusal(ingest(endless, { spoolDir: dir, maxBytes: 5000, fileId: fid, index: 1 }))).startsWith('PAYLOAD_TOO_LARGE')).toBe(true);
    expect(pulls).toBeLessThan(10);
    expect(cancelled).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('takes a header-only chunk that declares an empty body: exactly whole at 40 bytes', async () => {
    const dir = spool();
    const fid = newFileId();
    const chunk = shareChunk(fid, 1, 0);
    expect(chunk.length).toBe(HEADER_BYTES);
    const out = await ingest(body(chunk), { spoolDir: dir, maxBytes: 1000, fileId: fid, index: 1 });
    expect(out).toMatchObject({ size: HEADER_BYTES, digest: sha(chunk) });
  });

  it('a spool file that cannot be created fails with the open\u2019s own error, not the clean-up\u2019s', async () => {
    const fid = newFileId();
    const missing = join(spool(), 'no-such-folder');
    await expect(ingest(body(shareChunk(fid, 1, 10)), { spoolDir: missing, maxBytes: 1000, fileId: fid, index: 1 })).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
  });

  it('writes through reused blocks: each back in the pool once after a stored chunk and after a refusal mid-write', async () => {
    const dir = spool();
    const fid = newFileId();
    const chunk = shareChunk(fid, 1, 4 * BLOCK_BYTES + 5);
    await ingest(body(chunk, 65_536), { spoolDir: dir, maxBytes: 8 * BLOCK_BYTES, fileId: fid, index: 1 });
    const settled = freeBlocks();
    expect(settled).toBeGreaterThanOrEqual(2);
    // Over the limit after two and a half blocks: one block written, one in flight or full, one part-filled.
    expect(await refusal(ingest(body(chunk, 65_536), { spoolDir: dir, maxBytes: 2 * BLOCK_BYTES + 100, fileId: fid, index: 1 }))).toMatch(/^PAYLOAD_TOO_LARGE/);
    expect(freeBlocks()).toBe(settled);
    // Uploads at once never share a block: every spool file holds its own bytes.
    const chunks = Array.from({ length: 12 }, (_, i) => shareChunk(fid, i + 1, 3 * BLOCK_BYTES + i));
    const outs = await Promise.all(chunks.map((c, i) => ingest(body(c, 65_539), { spoolDir: dir, maxBytes: 4 * BLOCK_BYTES, fileId: fid, index: i + 1 })));
    for (const [i, out] of outs.entries()) expect(sha(readFileSync(out.path))).toBe(sha(chunks[i]!));
    expect(freeBlocks()).toBeLessThanOrEqual(32);
  });
});
