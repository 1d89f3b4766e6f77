/**
 * One suite for every ChunkStore: disk, and S3 against a real s3rver on loopback.
 */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskStore } from './disk.js';
import { S3Store } from './s3.js';
import { ingest } from './ingest.js';
import type { ChunkStore } from './types.js';
import { startS3, type LocalS3 } from '../testing/s3.js';
import { newFileId, shareChunk } from '../testing/chunks.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function streamOf(...parts: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(p);
      c.close();
    }
  });
}

async function readAll(s: ChunkStore, fileId: string, index: number): Promise<Buffer | undefined> {
  const c = await s.get(fileId, index);
  if (!c) return undefined;
  const parts: Buffer[] = [];
  for await (const p of c.open()) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

async function put(s: ChunkStore, fileId: string, index: number, bytes: Uint8Array) {
  const spooled = await ingest(streamOf(bytes.subarray(0, 7), bytes.subarray(7)), { spoolDir: s.spoolDir, maxBytes: 1 << 20, fileId, index });
  return s.commit(fileId, index, spooled);
}

let s3: LocalS3;
/** Flips one stored byte underneath the store, as bit rot would. */
type Corrupt = (store: ChunkStore, fileId: string, index: number) => void;
const flip = (path: string): void => {
  const b = readFileSync(path);
  b[b.length - 1]! ^= 0x01;
  writeFileSync(path, b);
};
const backends: Array<[string, () => ChunkStore, Corrupt]> = [
  [
    'disk',
    () => new DiskStore(mkdtempSync(join(tmpdir(), 'kofn-disk-'))),
    (store, fileId, index) => {
      if (!(store instanceof DiskStore)) throw new Error('the disk corrupter needs a DiskStore');
      const dir = join(store.root, 'chunks', fileId.slice(0, 2), fileId);
      flip(
        join(
          dir,
          readdirSync(dir).find((n) => n.startsWith(`${index}.`))!
        )
      );
    }
  ],
  [
    's3 (s3rver)',
    () =>
      new S3Store({
        bucket: s3.bucket,
        region: s3.region,
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: s3.credentials,
        spoolDir: mkdtempSync(join(tmpdir(), 'kofn-spool-'))
      }),
    (_store, fileId, index) => flip(s3.objectPath(`chunks/${fileId}/${index}`))
  ]
];

beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3.stop();
});

describe.each(backends)('ChunkStore on %s', (_name, make, corrupt) => {
  let store: ChunkStore;
  beforeAll(async () => {
    store = make();
    await store.init();
  });

  it('stores a chunk and reads back the same bytes with their digest', async () => {
    const fid = newFileId();
    const bytes = shareChunk(fid, 1, 5000);
    expect(await put(store, fid, 1, bytes)).toEqual({ created: true });
    const got = await store.get(fid, 1);
    expect(got).toMatchObject({ index: 1, size: bytes.length, digest: sha(bytes) });
    expect(await readAll(store, fid, 1)).toEqual(Buffer.from(bytes));
  });

  it('treats a PUT of identical bytes as a no-op and different bytes as a conflict', async () => {
    const fid = newFileId();
    const bytes = shareChunk(fid, 2, 100, 7);
    await put(store, fid, 2, bytes);
    expect(await put(store, fid, 2, bytes)).toEqual({ created: false });
    await expect(put(store, fid, 2, shareChunk(fid, 2, 100, 8))).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await readAll(store, fid, 2)).toEqual(Buffer.from(bytes));
  });

  it('keeps exactly one winner when the same chunk is raced with different bytes', async () => {
    const fid = newFileId();
    const variants = [1, 2, 3, 4].map((f) => shareChunk(fid, 3, 64, f));
    const results = await Promise.allSettled(variants.map((v) => put(store, fid, 3, v)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const stored = await readAll(store, fid, 3);
    expect(variants.some((v) => Buffer.from(v).equals(stored!))).toBe(true);
  });

  it('lists a file chunks with sizes and digests, in index order', async () => {
    const fid = newFileId();
    const chunks = [0, 1, 2].map((i) => shareChunk(fid, i, 10 + i));
    for (const i of [2, 0, 1]) await put(store, fid, i, chunks[i]!);
    expect(await store.list(fid)).toEqual(chunks.map((c, i) => ({ index: i, size: c.length, digest: sha(c) })));
    expect(await store.list(newFileId())).toEqual([]);
  });

  it('deletes one chunk, then a whole file, idempotently', async () => {
    const fid = newFileId();
    for (const i of [0, 1, 2]) await put(store, fid, i, shareChunk(fid, i));
    expect(await store.delete(fid, 1)).toBe(true);
    expect(await store.delete(fid, 1)).toBe(false);
    expect(await store.get(fid, 1)).toBeUndefined();
    expect(await store.deleteFile(fid)).toBe(2);
    expect(await store.list(fid)).toEqual([]);
    expect(await store.deleteFile(fid)).toBe(0);
  });

  it('answers undefined for a chunk that was never stored', async () => {
    expect(await store.get(newFileId(), 0)).toBeUndefined();
  });

  it('rejects bodies over the limit, with a wrong header or length, and leaves no spool file', async () => {
    const fid = newFileId();
    const ok = shareChunk(fid, 1, 200);
    const cases: Array<[ReadableStream<Uint8Array>, number, string]> = [
      [streamOf(ok), 100, 'PAYLOAD_TOO_LARGE'],
      [streamOf(shareChunk(newFileId(), 1, 200)), 1 << 20, 'BAD_SHARE_FORMAT'],
      [streamOf(shareChunk(fid, 2, 200)), 1 << 20, 'BAD_SHARE_FORMAT'],
      [streamOf(ok.subarray(0, 100)), 1 << 20, 'BAD_SHARE_FORMAT'],
      [streamOf(ok, new Uint8Array(1)), 1 << 20, 'BAD_SHARE_FORMAT'],
      [streamOf(new TextEncoder().encode('not a share chunk at all, just text....')), 1 << 20, 'BAD_SHARE_FORMAT'],
      [streamOf(), 1 << 20, 'BAD_SHARE_FORMAT']
    ];
    for (const [body, max, code] of cases) {
      await expect(ingest(body, { spoolDir: store.spoolDir, maxBytes: max, fileId: fid, index: 1 })).rejects.toMatchObject({ code });
    }
    expect(readdirSync(store.spoolDir)).toEqual([]);
    expect(await store.get(fid, 1)).toBeUndefined();
  });

  it('reports usage that grows with stored bytes', async () => {
    const before = await store.usage();
    const fid = newFileId();
    await put(store, fid, 1, shareChunk(fid, 1, 1000));
    const after = await store.usage();
    expect(after.usedBytes - before.usedBytes).toBe(1040);
    if (store instanceof DiskStore) {
      // A disk relay reports its file system's free space as statfs gives it to an unprivileged process.
      const fs = await statfs(store.root);
      expect(after.freeBytes).toBeGreaterThan(0);
      expect(Math.abs(after.freeBytes! - fs.bavail * fs.bsize)).toBeLessThan(64 * 2 ** 20);
    } else {
      // An S3 bucket has no free-space figure: not reported, rather than a made-up capacity.
      expect(after.freeBytes).toBeNull();
    }
  });

  it('scrub finds nothing wrong in healthy chunks, then names a rotten one', async () => {
    const r = await store.scrub();
    expect(r.checked).toBeGreaterThan(0);
    expect(r.corrupt).toEqual([]);
    const fid = newFileId();
    await put(store, fid, 4, shareChunk(fid, 4, 300));
    corrupt(store, fid, 4);
    // Exactly one chunk more was re-read, and it is the one named.
    expect(await store.scrub()).toEqual({ checked: r.checked + 1, corrupt: [{ fileId: fid, index: 4 }] });
  });
});
