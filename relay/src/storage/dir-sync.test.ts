/**
 * Group commit of directory fsyncs (dir-sync.ts): a caller is answered only by an fsync that began after
 * it asked, callers arriving during one fsync share the next, failures reach their callers; and on a real
 * disk store, 16 chunks committed at once into one folder are all stored with fewer folder fsyncs.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirSync } from './dir-sync.js';
import { DiskStore } from './disk.js';
import { ingest } from './ingest.js';
import { newFileId, shareChunk } from '../testing/chunks.js';

/** An fsync whose start and end the test sees and decides: the order of events is what is under test. */
function controlledSync() {
  const runs: Array<{ dir: string; finish: (err?: Error) => void }> = [];
  const fn = (dir: string) =>
    new Promise<void>((resolve, reject) => {
      runs.push({ dir, finish: (err) => (err ? reject(err) : resolve()) });
    });
  return { runs, fn };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('DirSync', () => {
  it('answers a caller who arrived during a running fsync only with the next one, shared by all such callers', async () => {
    const c = controlledSync();
    const sync = new DirSync(c.fn);
    const events: string[] = [];
    const first = sync.sync('/d').then(() => events.push('first'));
    await tick();
    expect(c.runs).toHaveLength(1);
    // Three callers arrive while fsync #1 runs: it may have begun before their links.
    const late = [1, 2, 3].map((i) => sync.sync('/d').then(() => events.push(`late${i}`)));
    await tick();
    expect(c.runs).toHaveLength(1);
    c.runs[0]!.finish();
    await first;
    await tick();
    expect(events).toEqual(['first']);
    // One more fsync starts for all three, after the first ended.
    expect(c.runs).toHaveLength(2);
    c.runs[1]!.finish();
    await Promise.all(late);
    expect(events).toEqual(['first', 'late1', 'late2', 'late3']);
    expect(sync.started).toBe(2);
  });

  it('keeps folders apart and passes an fsync failure to exactly the callers it answered', async () => {
    const c = controlledSync();
    const sync = new DirSync(c.fn);
    const a = sync.sync('/a');
    const b = sync.sync('/b');
    await tick();
    expect(c.runs.map((r) => r.dir)).toEqual(['/a', '/b']);
    const aLate = sync.sync('/a');
    c.runs[0]!.finish(new Error('EIO'));
    await expect(a).rejects.toThrow('EIO');
    await tick();
    // The caller that arrived later gets its own (next) fsync, which succeeds.
    expect(c.runs).toHaveLength(3);
    c.runs[2]!.finish();
    await expect(aLate).resolves.toBeUndefined();
    c.runs[1]!.finish();
    await expect(b).resolves.toBeUndefined();
  });

  it('starts a fresh fsync for a caller arriving after the last one ended', async () => {
    const c = controlledSync();
    const sync = new DirSync(c.fn);
    const p = sync.sync('/d');
    await tick();
    c.runs[0]!.finish();
    await p;
    const q = sync.sync('/d');
    await tick();
    expect(c.runs).toHaveLength(2);
    c.runs[1]!.finish();
    await q;
  });
});

describe('DiskStore commits into one folder at once', () => {
  it('stores all 16 chunks whole, with fewer folder fsyncs than chunks', async () => {
    const store = new DiskStore(mkdtempSync(join(tmpdir(), 'kofn-dirsync-')));
    await store.init();
    const fid = newFileId();
    const chunks = Array.from({ length: 16 }, (_, i) => shareChunk(fid, i + 1, 64 * 1024));
    const spooled = await Promise.all(chunks.map((c, i) => ingest(new Blob([c]).stream(), { spoolDir: store.spoolDir, maxBytes: 1 << 20, fileId: fid, index: i + 1 })));
    const before = store.dirSync.started;
    const results = await Promise.all(spooled.map((s, i) => store.commit(fid, i + 1, s)));
    expect(results.every((r) => r.created)).toBe(true);
    expect(store.dirSync.started - before).toBeLessThan(16);
    expect((await store.list(fid)).map((c) => [c.index, c.size])).toEqual(chunks.map((c, i) => [i + 1, c.length]));
  });
});
