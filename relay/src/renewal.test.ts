/**
 * Proactive renewal on real relays over loopback (#15, shared/docs/renewal.md): dealers stream sub-shares
 * to receivers through the shared relay client, receivers stage, the parity check passes for honest
 * dealing and fails for a dishonest dealer, and every k-subset rebuilds the file at the new epoch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER_BYTES, ShamirEngine, gfMul, writeHeader, parseHeader, type ShareHeader } from '@kofn/shared';
import { codeOf } from '@kofn/shared/testing';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recoverDirectories } from '@kofn/shared/recover';
import { contributionId, epochId } from './renewal.js';
import { check, client, deal, dealPrepareCheck, mint, protectOnto, readShare, rebuild, startCluster, type Cluster, type StorageKind, type StoredFile } from './testing/renewal.js';

function subsets<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)];
}

async function rebuildFrom(cluster: Cluster, file: StoredFile, relays: number[], epochOf: (j: number) => number): Promise<Uint8Array> {
  return rebuild(file, (i) => Promise.all(relays.map((j) => readShare(cluster, cluster.relays[j]!, file.fileId, i, epochOf(j)))));
}

const SIZES = [0, 1, 1024 * 1024 + 7];

describe.each<[StorageKind, number, number]>([
  ['disk', 2, 3],
  ['disk', 3, 5],
  ['s3', 2, 3]
])('renewal on %s relays, (%i,%i)', (storage, k, n) => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(n, storage);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close(); // undefined when beforeAll failed
  });

  it.each(SIZES)(
    'a %i-byte file renews: check passes, every k-subset rebuilds it at e+1, every body changed, epochs never mix',
    async (size) => {
      const data = new Uint8Array(randomBytes(size));
      const file = await protectOnto(cluster, data, k);
      expect(await dealPrepareCheck(cluster, file, 0)).toEqual([]);

      const all = [...Array(n).keys()];
      for (const set of subsets(all, k)) expect(Buffer.from(await rebuildFrom(cluster, file, set, () => 1)).equals(Buffer.from(data))).toBe(true);
      // Epoch 0 is still readable (switch and drop are the coordinator's), and still rebuilds.
      expect(Buffer.from(await rebuildFrom(cluster, file, all.slice(0, k), () => 0)).equals(Buffer.from(data))).toBe(true);

      for (const [j, r] of cluster.relays.entries()) {
        for (let i = 0; i < file.chunks; i++) {
          const old = await readShare(cluster, r, file.fileId, i, 0);
          const renewed = await readShare(cluster, r, file.fileId, i, 1);
          expect(parseHeader(renewed).epoch).toBe(1);
          expect(parseHeader(renewed).x).toBe(file.xs[j]);
          // Every body changed (a byte-for-byte equal body of 16+ bytes by chance has probability 2^-128).
          expect(Buffer.from(renewed.subarray(HEADER_BYTES)).equals(Buffer.from(old.subarray(HEADER_BYTES)))).toBe(false);
        }
        // Contributions are consumed by prepare: only the two epochs remain.
        for (const x of file.xs.slice(0, k)) expect(await r.store.list(contributionId(file.fileId, 1, x))).toEqual([]);
      }

      // k-1 shares of e with one of e+1 never give plaintext: the headers disagree (MIXED_EPOCH) or, when
      // the epoch check is bypassed by relabelling, the record does not authenticate (AUTH_FAILED).
      expect(await codeOf(rebuildFrom(cluster, file, all.slice(0, k), (j) => (j === 0 ? 1 : 0)))).toBe('MIXED_EPOCH');
      const relabelled = await codeOf(
        rebuild(file, async (i) => {
          const shares = await Promise.all(all.slice(0, k).map((j) => readShare(cluster, cluster.relays[j]!, file.fileId, i, j === 0 ? 1 : 0)));
          const first = shares[0]!;
          first.set(new Uint8Array([0, 0, 0, 0]), 28);
          return shares;
        })
      );
      expect(relabelled).toBe('AUTH_FAILED');
    },
    120_000
  );

  it('renews twice (e -> e+1 -> e+2) and rebuilds at e+2', async () => {
    const data = new Uint8Array(randomBytes(5000));
    const file = await protectOnto(cluster, data, k, 1024);
    expect(await dealPrepareCheck(cluster, file, 0)).toEqual([]);
    expect(await dealPrepareCheck(cluster, file, 1, { dealers: [...Array(k).keys()].map((d) => n - 1 - d) })).toEqual([]);
    expect(
      Buffer.from(
        await rebuildFrom(
          cluster,
          file,
          [...Array(k).keys()].map((d) => n - 1 - d),
          () => 2
        )
      ).equals(Buffer.from(data))
    ).toBe(true);
  }, 60_000);
});

/**
 * A dishonest dealer, simulated by PUTting its contributions directly (it holds a renew_put token per
 * receiver, exactly what a real dealer relay holds): the check must fail before any switch, and epoch 0
 * must still rebuild.
 */
describe.each<[number, number]>([
  [2, 3],
  [3, 5]
])('a dishonest dealer is caught, (%i,%i)', (k, n) => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(n);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close(); // undefined when beforeAll failed
  });

  type Cheat = (subShares: Uint8Array[], xs: number[], bodyLength: number) => void;
  const engine = new ShamirEngine();

  /** Dealer 0 cheats with `cheat`; the other k-1 dealers deal honestly through their relays. */
  async function renewWithCheat(file: StoredFile, cheat: Cheat): Promise<number[]> {
    const cheater = 0;
    const r0 = cluster.relays[cheater]!;
    for (let i = 0; i < file.chunks; i++) {
      const own = await readShare(cluster, r0, file.fileId, i, 0);
      const h = parseHeader(own);
      const subShares = engine.split(new Uint8Array(h.bodyLength), k, file.xs);
      cheat(subShares, file.xs, h.bodyLength);
      for (const [j, r] of cluster.relays.entries()) {
        const token = await mint(cluster, r, file.fileId, 'renew_put', { ep: 1, dx: file.xs[cheater], max: 1 << 20 });
        const body = new Uint8Array(HEADER_BYTES + h.bodyLength);
        writeHeader(body, { ...h, x: file.xs[j]!, epoch: 1 } satisfies ShareHeader);
        body.set(subShares[j]!, HEADER_BYTES);
        // The cheater follows the pad protocol (zero pads, which cancel): only its sub-shares are wrong.
        const pad = i === 0 ? Buffer.alloc(16 * (n - k + 1)).toString('base64url') : undefined;
        await client(r, token).putContribution(file.fileId, 1, file.xs[cheater]!, i, body, undefined, pad);
      }
    }
    for (let d = 1; d < k; d++) await deal(cluster, file, 1, d);
    const dxs = file.xs.slice(0, k);
    for (const r of cluster.relays) await client(r, await mint(cluster, r, file.fileId, 'renew_prepare', { ep: 1, dxs })).renewalStep(file.fileId, 1, 'prepare', {}, 1 << 20);
    return check(cluster, file, 1);
  }

  const cheats: Array<[string, Cheat]> = [
    [
      'd(0) != 0 (a constant added to every sub-share)',
      (s) => {
        for (const v of s) for (let b = 0; b < v.length; b++) v[b]! ^= 0x5a;
      }
    ],
    [
      'degree k (a z^k term)',
      (s, xs) => {
        for (const [j, v] of s.entries()) {
          let p = 1;
          for (let e = 0; e < k; e++) p = gfMul(p, xs[j]!);
          for (let b = 0; b < v.length; b++) v[b]! ^= gfMul(p, 0x33);
        }
      }
    ],
    [
      'garbage for one receiver',
      (s) => {
        const v = s[n - 1]!;
        if (v.length) v[v.length - 1]! ^= 1;
      }
    ]
  ];

  it.each(cheats)(
    '%s: the check fails and epoch 0 still rebuilds',
    async (_name, cheat) => {
      const data = new Uint8Array(randomBytes(3000));
      const file = await protectOnto(cluster, data, k, 1000);
      const failed = await renewWithCheat(file, cheat);
      expect(failed.length).toBeGreaterThan(0);
      expect(Buffer.from(await rebuildFrom(cluster, file, [...Array(k).keys()], () => 0)).equals(Buffer.from(data))).toBe(true);
      // The staged epoch really is corrupt (the check is not crying wolf): some k-subset cannot rebuild it.
      const results = await Promise.all(subsets([...Array(n).keys()], k).map((set) => codeOf(rebuildFrom(cluster, file, set, () => 1))));
      expect(results.some((r) => r !== 'ok')).toBe(true);
      // Abort: drop epoch 1 everywhere; epoch 0 stays whole.
      for (const r of cluster.relays) {
        const token = await mint(cluster, r, file.fileId, 'renew_drop', { ep: 1, dxs: file.xs.slice(0, k) });
        expect(await client(r, token).dropEpoch(file.fileId, 1)).toBe(file.chunks);
        expect(await r.store.list(epochId(file.fileId, 1))).toEqual([]);
      }
      expect(Buffer.from(await rebuildFrom(cluster, file, [...Array(n).keys()].slice(n - k), () => 0)).equals(Buffer.from(data))).toBe(true);
    },
    60_000
  );
});

describe('offline recovery (kofn-recover) after renewal, disk relays (2,3)', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(3);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close(); // undefined when beforeAll failed
  });

  it('rebuilds from the newest complete epoch, never mixing; a half-staged newer epoch is skipped and reported', async () => {
    const data = new Uint8Array(randomBytes(70_000));
    const file = await protectOnto(cluster, data, 2, 16 * 1024);
    expect(await dealPrepareCheck(cluster, file, 0)).toEqual([]);
    // Epochs 0 and 1 both on disk: epoch 1 is used.
    let out = mkdtempSync(join(tmpdir(), 'kofn-recover-out-'));
    let report = await recoverDirectories(
      cluster.relays.map((r) => r.root),
      out
    );
    let got = report.files.find((f) => f.fileId === file.fileId)!;
    expect(got.error).toBeUndefined();
    expect(got.epoch).toBe(1);
    expect(Buffer.from(readFileSync(got.path!)).equals(Buffer.from(data))).toBe(true);
    // Contributions are consumed by prepare, so nothing was dropped or unattributed.
    expect(got.droppedShares).toEqual([]);

    // A renewal 1 -> 2 stopped after staging on one relay only (k = 2): epoch 2 cannot rebuild, epoch 1 can.
    await Promise.all([0, 1].map((d) => deal(cluster, file, 2, d)));
    const r0 = cluster.relays[0]!;
    await client(r0, await mint(cluster, r0, file.fileId, 'renew_prepare', { ep: 2, dxs: [file.xs[0], file.xs[1]] })).renewalStep(file.fileId, 2, 'prepare', {}, 1 << 20);
    out = mkdtempSync(join(tmpdir(), 'kofn-recover-out-'));
    report = await recoverDirectories(
      cluster.relays.map((r) => r.root),
      out
    );
    got = report.files.find((f) => f.fileId === file.fileId)!;
    expect(got.error).toBeUndefined();
    expect(got.epoch).toBe(1);
    expect(got.skippedEpochs?.[0]).toMatch(/^epoch 2: /);
    expect(Buffer.from(readFileSync(got.path!)).equals(Buffer.from(data))).toBe(true);
  }, 60_000);
});
