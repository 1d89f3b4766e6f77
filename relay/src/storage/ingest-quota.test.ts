/**
 * ingest() when the disk refuses a write for space (issue #24: Stryker on relay/src/storage/ingest.ts).
 * ENOSPC is made for real on a tmpfs (enospc.test.ts); a quota (EDQUOT) needs quotas configured on the
 * file system, which a test machine does not have, so here the spool file's writes are made to fail with
 * the errno the kernel would give. ingest itself must name both as INSUFFICIENT_STORAGE (the route's
 * own mapping in http-error.ts would hide a miss here), pass any other failure on unchanged, and leave
 * no spool file either way.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ingest } from './ingest.js';
import { newFileId, shareChunk } from '../testing/chunks.js';

/** The errno the next spool writes fail with; undefined: real writes. */
let failWith: string | undefined;
/** When set, each spool write writes at most this many bytes (a short write, as a nearly full disk gives). */
let shortWrites: number | undefined;

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof real.open = async (path, flags, mode) => {
    const fh = await real.open(path, flags, mode);
    const write = fh.write.bind(fh) as (...args: unknown[]) => Promise<unknown>;
    // Typed loosely on purpose: FileHandle.write has several overloads and the wrapper passes them through.
    (fh as unknown as { write: (...args: unknown[]) => Promise<unknown> }).write = async (...args: unknown[]) => {
      if (failWith) throw Object.assign(new Error(`${failWith}: simulated by the test`), { code: failWith });
      // write(buffer, offset, length, position): the real call, with the length cut short.
      if (shortWrites !== undefined) return write(args[0], args[1], Math.min(args[2] as number, shortWrites), args[3]);
      return write(...args);
    };
    return fh;
  };
  return { ...real, default: { ...real, open }, open };
});

afterEach(() => {
  failWith = undefined;
  shortWrites = undefined;
});

async function outcome(errno: string): Promise<{ code: string | undefined; message: string; left: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'kofn-ingest-quota-'));
  const fid = newFileId();
  failWith = errno;
  try {
    await ingest(new Blob([shareChunk(fid, 1, 1000)]).stream(), { spoolDir: dir, maxBytes: 1 << 20, fileId: fid, index: 1 });
    return { code: 'stored', message: '', left: readdirSync(dir) };
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message, left: readdirSync(dir) };
  }
}

describe('ingest on a full disk or quota', () => {
  it('names a disk quota exceeded (EDQUOT) and a full disk (ENOSPC) INSUFFICIENT_STORAGE, and removes the spool file', async () => {
    for (const errno of ['EDQUOT', 'ENOSPC']) {
      expect(await outcome(errno), errno).toEqual({ code: 'INSUFFICIENT_STORAGE', message: 'The storage server is full.', left: [] });
    }
  });

  it('passes any other write failure on as it is (EIO is not a full disk), and removes the spool file', async () => {
    expect(await outcome('EIO')).toEqual({ code: 'EIO', message: 'EIO: simulated by the test', left: [] });
  });

  it('continues after short writes at the right place: the spool file is the body, byte for byte', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kofn-ingest-quota-'));
    const fid = newFileId();
    const chunk = shareChunk(fid, 1, 300_000);
    shortWrites = 10_000;
    const out = await ingest(new Blob([chunk]).stream(), { spoolDir: dir, maxBytes: 1 << 20, fileId: fid, index: 1 });
    expect(readFileSync(out.path).equals(Buffer.from(chunk))).toBe(true);
  });

  it('stores normally when the writes succeed (the wrapper changes nothing else)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kofn-ingest-quota-'));
    const fid = newFileId();
    const chunk = shareChunk(fid, 1, 1000);
    const out = await ingest(new Blob([chunk]).stream(), { spoolDir: dir, maxBytes: 1 << 20, fileId: fid, index: 1 });
    expect(out.size).toBe(chunk.length);
    expect(readdirSync(dir)).toHaveLength(1);
  });
});
