/**
 * A chunk deleted between the directory listing and the stat that sizes it (issue #24, Stryker on disk.ts):
 * `head` and `list` find a name, then stat it; a delete in between must read as "not there", and any other
 * stat failure must stay an error. The race is made deterministic by failing the real stat on cue.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { DiskStore } from './disk.js';
import { ingest } from './ingest.js';
import { newFileId, shareChunk } from '../testing/chunks.js';

/** When set, the next stat of a path ending in this suffix fails with this code (once). */
let failNext: { suffix: string; code: string } | undefined;

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const stat = (async (path: Parameters<typeof real.stat>[0], opts?: Parameters<typeof real.stat>[1]) => {
    const f = failNext;
    if (f && String(path).endsWith(f.suffix)) {
      failNext = undefined;
      throw Object.assign(new Error(`${f.code}: stat ${String(path)}`), { code: f.code });
    }
    return real.stat(path, opts);
  }) as typeof real.stat;
  return { ...real, default: { ...real, stat }, stat };
});

async function storeWith(fid: string, indexes: number[]): Promise<DiskStore> {
  const store = new DiskStore(mkdtempSync(join(tmpdir(), 'kofn-disk-races-')));
  await store.init();
  for (const index of indexes) {
    const body = new Blob([shareChunk(fid, index, 30)]).stream();
    await store.commit(fid, index, await ingest(body, { spoolDir: store.spoolDir, maxBytes: 1 << 20, fileId: fid, index }));
  }
  return store;
}

const nameOf = async (store: DiskStore, fid: string, index: number): Promise<string> => `${index}.${(await store.head(fid, index))!.digest}`;

beforeEach(() => {
  failNext = undefined;
});

describe('DiskStore when a chunk goes between listing and stat', () => {
  it('head answers "not there" for a chunk deleted meanwhile, and fails on any other stat error', async () => {
    const fid = newFileId();
    const store = await storeWith(fid, [1]);
    const name = await nameOf(store, fid, 1);
    failNext = { suffix: name, code: 'ENOENT' };
    expect(await store.head(fid, 1)).toBeUndefined();
    failNext = { suffix: name, code: 'EIO' };
    await expect(store.head(fid, 1)).rejects.toMatchObject({ code: 'EIO' });
    expect(await store.head(fid, 1)).toEqual({ index: 1, size: 70, digest: name.slice(2) });
  });

  it('list leaves out a chunk deleted meanwhile and keeps the rest, and fails on any other stat error', async () => {
    const fid = newFileId();
    const store = await storeWith(fid, [1, 2, 3]);
    const name = await nameOf(store, fid, 2);
    failNext = { suffix: name, code: 'ENOENT' };
    expect((await store.list(fid)).map((c) => c.index)).toEqual([1, 3]);
    failNext = { suffix: name, code: 'EIO' };
    await expect(store.list(fid)).rejects.toMatchObject({ code: 'EIO' });
    expect((await store.list(fid)).map((c) => c.index)).toEqual([1, 2, 3]);
  });
});
