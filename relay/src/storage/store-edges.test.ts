/**
 * ChunkStore details the shared suite (storage.test.ts) did not pin down, on disk and on S3 (a real
 * s3rver on loopback), found by Stryker on disk.ts and s3.ts (issue #24): usage counted again at start and
 * kept by commit and delete, listings in numeric order, the spool file gone after every commit, the words
 * of a conflict, and objects that are not chunks ignored.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DiskStore } from './disk.js';
import { S3Store } from './s3.js';
import { ingest } from './ingest.js';
import type { ChunkStore } from './types.js';
import { startS3, type LocalS3 } from '../testing/s3.js';
import { newFileId, shareChunk } from '../testing/chunks.js';

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(bytes);
      c.close();
    }
  });
}

async function spooled(store: ChunkStore, fileId: string, index: number, bytes: Uint8Array) {
  return ingest(streamOf(bytes), { spoolDir: store.spoolDir, maxBytes: 1 << 20, fileId, index });
}

async function put(store: ChunkStore, fileId: string, index: number, bytes: Uint8Array) {
  return store.commit(fileId, index, await spooled(store, fileId, index, bytes));
}

let s3: LocalS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3.stop();
});

interface Backend {
  /** A store over the data of `same` (as after a restart), or over fresh data. */
  open: (same?: ChunkStore) => ChunkStore;
  /** Writes an object that is not a chunk where the store keeps a file's chunks. */
  stray: (store: ChunkStore, fileId: string) => Promise<void>;
}

const backends: Array<[string, Backend]> = [
  [
    'disk',
    {
      // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- `same` is the DiskStore this backend's own open() made
      open: (same) => new DiskStore(same ? (same as DiskStore).root : mkdtempSync(join(tmpdir(), 'kofn-disk-'))),
      stray: async (store, fileId) => {
        // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- the store this backend's own open() made
        writeFileSync(join((store as DiskStore).root, 'chunks', fileId.slice(0, 2), fileId, 'notes.txt'), 'not a chunk');
      }
    }
  ],
  [
    's3 (s3rver)',
    {
      open: () => {
        return new S3Store({
          bucket: s3.bucket,
          region: s3.region,
          endpoint: s3.endpoint,
          forcePathStyle: true,
          credentials: s3.credentials,
          capacityBytes: 1_000_000,
          spoolDir: mkdtempSync(join(tmpdir(), 'kofn-spool-'))
        });
      },
      stray: async (_store, fileId) => {
        const client = new S3Client({ region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
        await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `chunks/${fileId}/notes.txt`, Body: 'not a chunk' }));
        client.destroy();
      }
    }
  ]
];

describe.each(backends)('ChunkStore details on %s', (name, backend) => {
  it('counts stored bytes again at start, and keeps the count through commits and deletes', async () => {
    const store = backend.open();
    await store.init();
    const base = (await store.usage()).usedBytes;
    const fid = newFileId();
    await put(store, fid, 1, shareChunk(fid, 1, 100));
    await put(store, fid, 2, shareChunk(fid, 2, 300));
    expect((await store.usage()).usedBytes - base).toBe(140 + 340);
    // The same bytes again change nothing; a delete gives its bytes back.
    const again = await spooled(store, fid, 2, (await readAll(store, fid, 2))!);
    expect(await store.commit(fid, 2, again)).toEqual({ created: false });
    expect((await store.usage()).usedBytes - base).toBe(480);
    expect(await store.delete(fid, 1)).toBe(true);
    expect((await store.usage()).usedBytes - base).toBe(340);
    // A store opened again over the same data counts what is there.
    const reopened = backend.open(store);
    await reopened.init();
    expect((await reopened.usage()).usedBytes).toBe((await store.usage()).usedBytes);
    expect(await reopened.deleteFile(fid)).toBe(1);
    expect((await reopened.usage()).usedBytes - base).toBe(0);
    if (name.startsWith('s3')) expect((await reopened.usage()).freeBytes).toBe(1_000_000 - (await reopened.usage()).usedBytes);
    else expect((await reopened.usage()).freeBytes).toBeGreaterThan(0);
  });

  it('lists chunks in numeric order (10 after 9), with their sizes and digests', async () => {
    const store = backend.open();
    await store.init();
    const fid = newFileId();
    for (const i of [10, 9, 2, 100]) await put(store, fid, i, shareChunk(fid, i, 10 + i));
    const listed = await store.list(fid);
    expect(listed.map((c) => [c.index, c.size])).toEqual([
      [2, 52],
      [9, 59],
      [10, 60],
      [100, 150]
    ]);
    const head = await store.head(fid, 9);
    expect(head).toEqual(listed[1]);
    expect(head!.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('removes the spool file after a commit, whether it stored, found the same bytes or refused', async () => {
    const store = backend.open();
    await store.init();
    const fid = newFileId();
    const first = await spooled(store, fid, 1, shareChunk(fid, 1, 50, 1));
    expect(await store.commit(fid, 1, first)).toEqual({ created: true });
    expect(existsSync(first.path)).toBe(false);
    const other = await spooled(store, fid, 1, shareChunk(fid, 1, 50, 2));
    await expect(store.commit(fid, 1, other)).rejects.toMatchObject({
      code: 'CONFLICT',
      message: 'A different share chunk is already stored at this index.'
    });
    expect(existsSync(other.path)).toBe(false);
    expect(readdirSync(store.spoolDir)).toEqual([]);
  });

  it('ignores an object that is not a chunk in a file\u2019s place: not listed, not scrubbed, not counted', async () => {
    const store = backend.open();
    await store.init();
    const fid = newFileId();
    await put(store, fid, 1, shareChunk(fid, 1, 20));
    await backend.stray(store, fid);
    expect((await store.list(fid)).map((c) => c.index)).toEqual([1]);
    expect((await store.scrub()).corrupt).toEqual([]);
    expect(await store.get(fid, 2)).toBeUndefined();
    expect(await store.head(fid, 2)).toBeUndefined();
    expect(await store.delete(fid, 2)).toBe(false);
  });
});

async function readAll(s: ChunkStore, fileId: string, index: number): Promise<Buffer | undefined> {
  const c = await s.get(fileId, index);
  if (!c) return undefined;
  const parts: Buffer[] = [];
  for await (const p of c.open()) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

describe('disk commit makes the file folder only when the link needs it (issue #14)', () => {
  it('stores a new file’s chunks committed at once, and again after a delete removed its emptied folder', async () => {
    const root = mkdtempSync(join(tmpdir(), 'kofn-disk-'));
    const store = new DiskStore(root);
    await store.init();
    const fid = newFileId();
    const folder = join(root, 'chunks', fid.slice(0, 2), fid);
    // Eight first chunks race to link into a folder that does not exist yet.
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => put(store, fid, i, shareChunk(fid, i, 100 + i))));
    expect(results.every((r) => r.created)).toBe(true);
    expect((await store.list(fid)).map((c) => c.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(await store.deleteFile(fid)).toBe(8);
    expect(existsSync(folder)).toBe(false);
    expect(await put(store, fid, 3, shareChunk(fid, 3, 50))).toEqual({ created: true });
    expect((await store.list(fid)).map((c) => c.index)).toEqual([3]);
    expect(readdirSync(store.spoolDir)).toEqual([]);
    rmSync(root, { recursive: true, force: true });
  });
});
