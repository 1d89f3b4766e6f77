/**
 * Proactive renewal of compact files (issue #23; shared/docs/compact-mode.md, relay/src/renewal.ts
 * isCompactData) on real relays over loopback: only chunk 0 (the Shamir-split record holding the file key)
 * is re-randomised; the data fragments (Reed-Solomon coded AES-256-GCM ciphertext, version-2 headers) reach
 * the new epoch byte for byte, whatever a dealer sends for them, so the file still rebuilds from every
 * k-subset and offline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER_BYTES, MODE_COMPACT, parseHeader, writeHeader } from '@kofn/shared';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recoverDirectories } from '@kofn/shared/recover';
import { contributionId } from './renewal.js';
import { check, client, deal, dealPrepareCheck, mint, protectOnto, readShare, rebuild, startCluster, type Cluster, type StorageKind, type StoredFile } from './testing/renewal.js';

function subsets<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)];
}

async function rebuildFrom(cluster: Cluster, file: StoredFile, relays: number[], epoch: number): Promise<Uint8Array> {
  return rebuild(file, (i) => Promise.all(relays.map((j) => readShare(cluster, cluster.relays[j]!, file.fileId, i, epoch))));
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

const CHUNK = 16 * 1024;
// Empty (chunk 0 only), 1 byte, exactly one chunk (the boundary), several chunks with a short last one.
const SIZES = [0, 1, CHUNK, 3 * CHUNK + 7];

describe.each<[StorageKind, number, number]>([
  ['disk', 2, 3],
  ['disk', 3, 5],
  ['s3', 2, 3]
])('renewal of compact files on %s relays, (%i,%i)', (storage, k, n) => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(n, storage);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close(); // undefined when beforeAll failed
  });

  it.each(SIZES)(
    'a %i-byte compact file renews twice: check passes, chunk 0 re-randomised, fragments unchanged, every k-subset rebuilds',
    async (size) => {
      const data = new Uint8Array(randomBytes(size));
      const file = await protectOnto(cluster, data, k, CHUNK, 'compact');
      expect(parseHeader(await readShare(cluster, cluster.relays[0]!, file.fileId, 0, 0)).mode).toBe(MODE_COMPACT);
      expect(await dealPrepareCheck(cluster, file, 0)).toEqual([]);
      const all = [...Array(n).keys()];
      for (const set of subsets(all, k)) expect(same(await rebuildFrom(cluster, file, set, 1), data)).toBe(true);

      for (const [j, r] of cluster.relays.entries()) {
        for (let i = 0; i < file.chunks; i++) {
          const old = await readShare(cluster, r, file.fileId, i, 0);
          const renewed = await readShare(cluster, r, file.fileId, i, 1);
          const h = parseHeader(renewed);
          expect(h.epoch).toBe(1);
          expect(h.x).toBe(file.xs[j]);
          expect(h.mode).toBe(MODE_COMPACT);
          expect(h.pad).toBe(parseHeader(old).pad);
          const changed = !same(renewed.subarray(HEADER_BYTES), old.subarray(HEADER_BYTES));
          // Chunk 0's key shares change (equal by chance with probability 2^-8 per byte over 100+ bytes);
          // a data fragment must not.
          expect(changed).toBe(i === 0);
        }
      }

      expect(await dealPrepareCheck(cluster, file, 1, { dealers: all.slice(n - k) })).toEqual([]);
      expect(same(await rebuildFrom(cluster, file, all.slice(n - k), 2), data)).toBe(true);
    },
    120_000
  );
});

describe('renewal of a compact file ignores updates to data fragments, disk relays (2,3)', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(3);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close(); // undefined when beforeAll failed
  });

  it('an honest dealer deals chunk 0 only', async () => {
    const data = new Uint8Array(randomBytes(5 * 1024 + 3));
    const file = await protectOnto(cluster, data, 2, 1024, 'compact');
    expect(file.chunks).toBe(7);
    expect(await deal(cluster, file, 1, 0)).toEqual({ dealt: 1 });
  }, 60_000);

  it('a contribution PUT for a fragment (a dishonest dealer) is never applied; the file rebuilds at e+1 from every pair', async () => {
    const data = new Uint8Array(randomBytes(3000));
    const file = await protectOnto(cluster, data, 2, 1000, 'compact');
    const cheater = 0;
    // The cheater sends a non-zero "update" for data chunk 1 to every receiver, as a real dealer relay could
    // (it holds a renew_put token per receiver); then both dealers deal honestly (chunk 0).
    for (const [j, r] of cluster.relays.entries()) {
      const own = await readShare(cluster, r, file.fileId, 1, 0);
      const h = parseHeader(own);
      const body = new Uint8Array(HEADER_BYTES + h.bodyLength);
      writeHeader(body, { ...h, x: file.xs[j]!, epoch: 1 });
      body.fill(0x5a, HEADER_BYTES);
      const token = await mint(cluster, r, file.fileId, 'renew_put', { ep: 1, dx: file.xs[cheater], max: 1 << 20 });
      await client(r, token).putContribution(file.fileId, 1, file.xs[cheater]!, 1, body);
    }
    for (const d of [0, 1]) await deal(cluster, file, 1, d);
    const dxs = file.xs.slice(0, 2);
    for (const r of cluster.relays) await client(r, await mint(cluster, r, file.fileId, 'renew_prepare', { ep: 1, dxs })).renewalStep(file.fileId, 1, 'prepare', {}, 1 << 20);
    expect(await check(cluster, file, 1)).toEqual([]);
    for (const r of cluster.relays) {
      expect(same((await readShare(cluster, r, file.fileId, 1, 1)).subarray(HEADER_BYTES), (await readShare(cluster, r, file.fileId, 1, 0)).subarray(HEADER_BYTES))).toBe(true);
      // The unused contribution went with prepare, like every consumed one.
      expect(await r.store.list(contributionId(file.fileId, 1, file.xs[cheater]!))).toEqual([]);
    }
    for (const set of subsets([0, 1, 2], 2)) expect(same(await rebuildFrom(cluster, file, set, 1), data)).toBe(true);
  }, 60_000);

  it('kofn-recover rebuilds a renewed compact file from the relay folders at the new epoch', async () => {
    const data = new Uint8Array(randomBytes(70_000));
    const file = await protectOnto(cluster, data, 2, 16 * 1024, 'compact');
    expect(await dealPrepareCheck(cluster, file, 0)).toEqual([]);
    const out = mkdtempSync(join(tmpdir(), 'kofn-recover-out-'));
    const report = await recoverDirectories(
      cluster.relays.map((r) => r.root),
      out
    );
    const got = report.files.find((f) => f.fileId === file.fileId)!;
    expect(got.error).toBeUndefined();
    expect(got.epoch).toBe(1);
    expect(same(readFileSync(got.path!), data)).toBe(true);
  }, 60_000);
});
