/**
 * The resume state of `kofn protect` on the real file system: private files, the chunk log read back to the
 * last chunk every relay acknowledged in a row, a line cut by a kill ignored, and a key that changes when
 * the file or the options do. The kill -9 round trip against the real stack: e2e/tests/cli.spec.ts.
 */
import { appendFile, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UploadStore, uploadKey, type UploadState } from './upload-state.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kofn-upload-state-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const state = (): UploadState => ({
  v: 1,
  origin: 'http://127.0.0.1:1',
  fileId: 'ab'.repeat(16),
  k: 2,
  n: 3,
  chunkSize: 1048576,
  chunkCount: 5,
  epoch: 0,
  placements: [1, 2, 3].map((i) => ({ relayId: `r${i}`, name: `relay-${i}`, url: `http://127.0.0.1:${i}`, x: i })),
  macKey: Buffer.alloc(32, 7).toString('base64'),
  createdAt: 1,
  name: 'f.bin',
  size: 5 * 1048576,
  type: 'application/octet-stream'
});
const d = (c: string) => c.repeat(64);

describe('UploadStore', () => {
  it('keeps private files and continues after the last chunk stored everywhere in a row', async () => {
    const env = { KOFN_CONFIG_DIR: join(dir, 'a') };
    const store = new UploadStore('k1', env);
    expect(await store.load()).toBeUndefined();
    const old = process.umask(0);
    try {
      await store.save(state());
    } finally {
      process.umask(old);
    }
    const folder = join(env.KOFN_CONFIG_DIR, 'uploads');
    expect((await stat(folder)).mode & 0o777).toBe(0o700);
    for (const n of await readdir(folder)) expect((await stat(join(folder, n))).mode & 0o777, n).toBe(0o600);
    // Chunks finish out of order; 3 is missing, so 4 is not counted (its neighbours' shares are redone).
    for (const i of [1, 0, 2, 4]) await store.chunkDone(i, [d('a'), d('b'), d(String(i))]);
    const got = await store.load();
    expect(got?.state).toEqual(state());
    expect(got?.point.doneUpTo).toBe(2);
    expect(got?.point.digests).toEqual([
      [d('a'), d('a'), d('a')],
      [d('b'), d('b'), d('b')],
      [d('0'), d('1'), d('2')]
    ]);
    // A line cut short by a kill (no newline, a partial digest) is not a stored chunk.
    await appendFile(join(folder, 'k1.log'), `3 ${d('a')},${d('b')},${d('3').slice(0, 30)}`);
    expect((await store.load())?.point.doneUpTo).toBe(2);
    // Saving again (a relay was replaced) empties the log.
    await store.save(state());
    expect((await store.load())?.point.doneUpTo).toBe(-1);
    await store.forget();
    expect(await readdir(folder)).toEqual([]);
    expect(await store.load()).toBeUndefined();
  });

  it('ignores a state file others can read', async () => {
    const env = { KOFN_CONFIG_DIR: join(dir, 'b') };
    const store = new UploadStore('k2', env);
    await store.save(state());
    const { chmod } = await import('node:fs/promises');
    await chmod(join(env.KOFN_CONFIG_DIR, 'uploads', 'k2.json'), 0o644);
    expect(await store.load()).toBeUndefined();
  });
});

describe('uploadKey', () => {
  it('is the same for the same file and options, and changes with the content date, size, name or options', async () => {
    const path = join(dir, 'data.bin');
    await writeFile(path, 'hello');
    const opts = { origin: 'http://127.0.0.1:1', name: 'data.bin', k: 3 };
    const first = await uploadKey(path, opts);
    expect(first).toMatch(/^[0-9a-f]{32}$/);
    expect(await uploadKey(path, opts)).toBe(first);
    expect(await uploadKey(path, { ...opts, k: 2 })).not.toBe(first);
    expect(await uploadKey(path, { ...opts, relays: ['r1'] })).not.toBe(first);
    expect(await uploadKey(path, { ...opts, name: 'other.bin' })).not.toBe(first);
    expect(await uploadKey(path, { ...opts, origin: 'http://127.0.0.1:2' })).not.toBe(first);
    // Compact mode and layouts (issues #23, #21) are options too; Shamir without a layout keeps the key an
    // upload interrupted before these options existed was recorded under.
    expect(await uploadKey(path, { ...opts, mode: 'shamir' })).toBe(first);
    const compact = await uploadKey(path, { ...opts, mode: 'compact' });
    const tree = await uploadKey(path, { ...opts, layout: '2; 2:a,b; 2:c,d' });
    expect(new Set([first, compact, tree, await uploadKey(path, { ...opts, layout: '2; 2:a,b; 2:c,e' })]).size).toBe(4);
    await utimes(path, new Date(), new Date(Date.now() + 5000));
    expect(await uploadKey(path, opts)).not.toBe(first);
    expect(await uploadKey(join(dir, 'missing.bin'), opts)).toBeUndefined();
  });
});
