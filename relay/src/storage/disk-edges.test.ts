/**
 * DiskStore details the shared suites (storage.test.ts, store-edges.test.ts) leave open, found by reading
 * disk.ts for Stryker's mutants (issue #24): what a start does to leftovers and counts, which names in a
 * chunk folder are chunks, folders removed with their last chunk, and the free-space figure.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskStore } from './disk.js';
import { ingest } from './ingest.js';
import { newFileId, shareChunk } from '../testing/chunks.js';

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(bytes);
      c.close();
    }
  });
}

async function put(store: DiskStore, fileId: string, index: number, bytes: Uint8Array) {
  const spooled = await ingest(streamOf(bytes), { spoolDir: store.spoolDir, maxBytes: 1 << 20, fileId, index });
  return store.commit(fileId, index, spooled);
}

async function fresh(): Promise<DiskStore> {
  const store = new DiskStore(mkdtempSync(join(tmpdir(), 'kofn-disk-edges-')));
  await store.init();
  return store;
}

const folder = (store: DiskStore, fid: string): string => join(store.root, 'chunks', fid.slice(0, 2), fid);

describe('DiskStore start', () => {
  it('removes spool files a crash left, and counts stored bytes once however often it starts', async () => {
    const store = await fresh();
    const fid = newFileId();
    await put(store, fid, 1, shareChunk(fid, 1, 100));
    writeFileSync(join(store.spoolDir, 'left-by-a-crash.part'), 'half a chunk');
    await store.init();
    expect(readdirSync(store.spoolDir)).toEqual([]);
    await store.init();
    expect((await store.usage()).usedBytes).toBe(140);
    expect((await store.list(fid)).map((c) => c.index)).toEqual([1]);
  });

  it('starts and scrubs over a data folder holding stray files among the shard and file folders', async () => {
    const store = await fresh();
    const fid = newFileId();
    await put(store, fid, 0, shareChunk(fid, 0, 60));
    writeFileSync(join(store.root, 'chunks', '.DS_Store'), 'not a shard');
    // And a file (not a folder) among a shard's file folders, named like one.
    writeFileSync(`${folder(store, fid)}.old`, 'not a file folder');
    const again = new DiskStore(store.root);
    await again.init();
    expect((await again.usage()).usedBytes).toBe(100);
    expect((await again.scrub()).checked).toBe(1);
  });
});

describe('DiskStore names', () => {
  it('takes only <index>.<sha256> names as chunks: near misses in a chunk folder are not listed, read, scrubbed or counted', async () => {
    const store = await fresh();
    const fid = newFileId();
    await put(store, fid, 1, shareChunk(fid, 1, 30));
    const digest = (await store.head(fid, 1))!.digest;
    const dir = folder(store, fid);
    // Each is one character or one rule away from a chunk name.
    for (const name of [`2.${digest}.part`, `x3.${digest}`, `12345678901.${digest}`, `4.${digest.slice(1)}`, `5.${digest.toUpperCase()}`, `6-${digest}`]) {
      writeFileSync(join(dir, name), 'not a chunk');
    }
    expect((await store.list(fid)).map((c) => c.index)).toEqual([1]);
    for (const i of [2, 3, 4, 5, 6]) {
      expect(await store.head(fid, i)).toBeUndefined();
      expect(await store.get(fid, i)).toBeUndefined();
    }
    expect(await store.scrub()).toEqual({ checked: 1, corrupt: [] });
    const again = new DiskStore(store.root);
    await again.init();
    expect((await again.usage()).usedBytes).toBe(70);
    // The largest index a name may carry (10 digits) is a chunk.
    expect(await put(store, fid, 4_294_967_295, shareChunk(fid, 4_294_967_295, 10))).toEqual({ created: true });
    expect((await store.list(fid)).map((c) => c.index)).toEqual([1, 4_294_967_295]);
  });
});

describe('DiskStore read errors', () => {
  it('reports a chunk folder it cannot read as an error, never as a file with no chunks', async () => {
    const store = await fresh();
    const fid = newFileId();
    mkdirSync(join(store.root, 'chunks', fid.slice(0, 2)), { recursive: true });
    // A folder that loops back on itself: reading it fails with ELOOP (root reads past permissions).
    symlinkSync(folder(store, fid), folder(store, fid));
    await expect(store.list(fid)).rejects.toMatchObject({ code: 'ELOOP' });
    await expect(store.head(fid, 1)).rejects.toMatchObject({ code: 'ELOOP' });
  });

  it('closes the chunk file opened by get once its stream is read to the end', async () => {
    const store = await fresh();
    const fid = newFileId();
    const bytes = shareChunk(fid, 1, 64 << 10);
    await put(store, fid, 1, bytes);
    const got = (await store.get(fid, 1))!;
    const stream = got.open();
    let n = 0;
    for await (const part of stream) n += (part as Buffer).length;
    if (!stream.closed) await once(stream, 'close');
    expect(n).toBe(bytes.length);
    // A file handle that is closed has fd -1: an open one would leak a descriptor per download.
    expect(got.file!.fd).toBe(-1);
  });
});

describe('DiskStore removal', () => {
  it('removes a file folder with its last chunk, and keeps it while a chunk is left', async () => {
    const store = await fresh();
    const fid = newFileId();
    await put(store, fid, 1, shareChunk(fid, 1, 20));
    await put(store, fid, 2, shareChunk(fid, 2, 20));
    expect(await store.delete(fid, 1)).toBe(true);
    expect(readdirSync(folder(store, fid))).toHaveLength(1);
    expect(await store.delete(fid, 1)).toBe(false);
    expect(await store.delete(fid, 2)).toBe(true);
    expect(existsSync(folder(store, fid))).toBe(false);
    expect((await store.usage()).usedBytes).toBe(0);
  });

  it('deleting a file removes its folder with whatever else is in it, and counts only chunks', async () => {
    const store = await fresh();
    const fid = newFileId();
    await put(store, fid, 0, shareChunk(fid, 0, 20));
    await put(store, fid, 1, shareChunk(fid, 1, 20));
    mkdirSync(join(folder(store, fid), 'junk'));
    writeFileSync(join(folder(store, fid), 'junk', 'x'), 'x');
    expect(await store.deleteFile(fid)).toBe(2);
    expect(existsSync(folder(store, fid))).toBe(false);
    expect(await store.deleteFile(fid)).toBe(0);
  });
});

describe('DiskStore usage', () => {
  it('reports the filesystem\u2019s free bytes for the relay (available blocks times block size)', async () => {
    const store = await fresh();
    const before = statfsSync(store.root);
    const { freeBytes } = await store.usage();
    const after = statfsSync(store.root);
    // Other processes write to this disk meanwhile: the figure lies between two readings around it.
    const [lo, hi] = [before.bavail * before.bsize, after.bavail * after.bsize].sort((a, b) => a - b) as [number, number];
    expect(freeBytes).toBeGreaterThanOrEqual(lo - (64 << 20));
    expect(freeBytes).toBeLessThanOrEqual(hi + (64 << 20));
    expect(freeBytes).toBeGreaterThan(64 << 20);
  });
});
