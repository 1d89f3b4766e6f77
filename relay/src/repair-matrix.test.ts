/**
 * Repair by relays over the issue's (k,n) x size matrix (#16: "(2,3), (3,5), (5,5), files 0 B to 64 MiB"),
 * relay side, over real relays on loopback (disk), each step walked in ranges of chunks as the coordinator's
 * job does. Web's repair.test.ts covers (2,3) and (3,4) end to end with the coordinator; this file adds:
 *
 *   - (2,3) and (3,5), 0 B, 1 B and 1 MiB + 7 in 64 KiB chunks: the last relay's share is dropped and rebuilt
 *     at its own x from the first k, byte-identical (every chunk's SHA-256, as the relay lists it, equal to
 *     the lost one's), and it rebuilds the file with k-1 shares that were not its helpers';
 *   - (5,5), same sizes: no k good shares besides a lost one exist, so a share leaves by the copy form
 *     (a drain's move onto a sixth relay, byte-identical), and all five rebuild a share at a fresh x on the
 *     sixth relay (four pad seeds per helper), which rebuilds the file with any four of the others;
 *   - (3,5), 64 MiB in 1 MiB chunks, in ranges of 16 chunks (four collects, as the coordinator cuts them):
 *     the rebuilt share byte-identical to the lost one, chunk by chunk.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenOp } from '@kofn/shared';
import { client, mint, protectOnto, readShare, rebuild, startCluster, stepRanges, type Cluster, type StoredFile, type TestRelay } from './testing/renewal.js';

/** A cluster of the first n relays (protectOnto stores one share on each relay of the cluster it is given). */
const first = (cluster: Cluster, n: number): Cluster => ({ ...cluster, relays: cluster.relays.slice(0, n) });

async function post(cluster: Cluster, r: TestRelay, file: StoredFile, path: string, op: TokenOp, body: unknown): Promise<readonly [number, { error?: { code: string }; digests?: string[] }]> {
  const res = await r.app.request(`/v1/repair/${file.fileId}/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await mint(cluster, r, file.fileId, op, { chunks: [0, 0] })}`, 'content-type': 'application/json' },
    body: JSON.stringify(body)
  });
  return [res.status, (await res.json()) as { error?: { code: string }; digests?: string[] }] as const;
}

async function drop(cluster: Cluster, r: TestRelay, file: StoredFile): Promise<void> {
  await client(r, await mint(cluster, r, file.fileId, 'renew_drop', { ep: 0, dxs: [] })).dropEpoch(file.fileId, 0);
}

/** The digests of a relay's stored chunks of the file, by index (SHA-256 of each whole chunk). */
async function digests(r: TestRelay, file: StoredFile): Promise<string[]> {
  return (await r.store.list(file.fileId)).map((c) => c.digest);
}

/**
 * The coordinator's steps (web/src/lib/server/repair.ts): start on every helper, then one collect per range
 * on the receiver, which stores the share at xNew. Answers the digests the collects reported, in order.
 */
async function rebuildOnto(cluster: Cluster, file: StoredFile, helpers: number[], receiver: TestRelay, xNew: number, rangeChunks?: number): Promise<string[]> {
  const xs = helpers.map((j) => file.xs[j]!);
  const rid = randomBytes(16).toString('hex');
  const last = file.chunks - 1;
  for (const [self, j] of helpers.entries()) {
    const peers = await Promise.all(
      helpers.slice(self + 1).map(async (p) => ({ url: cluster.relays[p]!.url, token: await mint(cluster, cluster.relays[p]!, file.fileId, 'repair_seed', { chunks: [self, self] }) }))
    );
    const [status, answer] = await post(cluster, cluster.relays[j]!, file, 'start', 'repair_start', { rid, xs, self, xNew, epoch: 0, chunkCount: last, peers });
    expect([status, answer.error?.code]).toEqual([200, undefined]);
  }
  const sources = await Promise.all(helpers.map(async (j) => ({ url: cluster.relays[j]!.url, token: await mint(cluster, cluster.relays[j]!, file.fileId, 'repair_send', { chunks: [0, 0] }) })));
  const got: string[] = [];
  for (const range of stepRanges(file.chunks, rangeChunks)) {
    const [status, answer] = await post(cluster, receiver, file, 'collect', 'repair_collect', { rid, x: xNew, k: file.k, epoch: 0, chunkCount: last, helpers: sources, ...range });
    expect([status, answer.error?.code]).toEqual([200, undefined]);
    got.push(...answer.digests!);
  }
  return got;
}

const shares = (cluster: Cluster, file: StoredFile, relays: TestRelay[]) => (i: number) => Promise.all(relays.map((r) => readShare(cluster, r, file.fileId, i, 0)));
const SIZES = [0, 1, 1024 * 1024 + 7];

describe('repair over (k,n) and sizes (disk relays)', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    // Six relays: n of them hold a file's shares, the sixth receives (5,5)'s copy and fresh-x share.
    cluster = await startCluster(6);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close(); // undefined when beforeAll failed
  });

  describe.each([
    [2, 3],
    [3, 5]
  ])('(%i,%i)', (k, n) => {
    it.each(SIZES)(
      'a %i-byte file: the last share, lost, is rebuilt at its own x byte-identical and rebuilds the file with others',
      async (size) => {
        const data = new Uint8Array(randomBytes(size));
        const file = await protectOnto(first(cluster, n), data, k);
        const lost = cluster.relays[n - 1]!;
        const before = await digests(lost, file);
        expect(before).toHaveLength(file.chunks);
        await drop(cluster, lost, file);
        expect(await digests(lost, file)).toEqual([]);
        // Ranges of 2 chunks: a collect spans several requests within one repair session.
        const helpers = [...Array(k).keys()];
        expect(await rebuildOnto(cluster, file, helpers, lost, file.xs[n - 1]!, 2)).toEqual(before);
        expect(await digests(lost, file)).toEqual(before);
        // With k-1 other shares, those that were not its helpers first, it rebuilds the file.
        const others = [...Array(n - 1).keys()].reverse().slice(0, k - 1);
        const got = await rebuild(file, shares(cluster, file, [lost, ...others.map((j) => cluster.relays[j]!)]));
        expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
      },
      60_000
    );
  });

  describe('(5,5)', () => {
    it.each(SIZES)(
      'a %i-byte file: a share moves by copy byte-identical; all five rebuild a share at a fresh x that rebuilds the file with any four others',
      async (size) => {
        const data = new Uint8Array(randomBytes(size));
        const file = await protectOnto(first(cluster, 5), data, 5);
        const spare = cluster.relays[5]!;
        const last = file.chunks - 1;
        // The copy form (n = k: the only way off a draining relay), in two ranges.
        const src = cluster.relays[2]!;
        const token = await mint(cluster, src, file.fileId, 'get', { chunks: [0, last] });
        const body = { rid: '00'.repeat(16), x: file.xs[2], k: 5, epoch: 0, chunkCount: last, source: { url: src.url, token } };
        for (const range of stepRanges(file.chunks, Math.max(1, Math.ceil(file.chunks / 2)))) {
          const [status, answer] = await post(cluster, spare, file, 'collect', 'repair_collect', { ...body, ...range });
          expect([status, answer.error?.code]).toEqual([200, undefined]);
        }
        expect(await digests(spare, file)).toEqual(await digests(src, file));
        await drop(cluster, spare, file);
        // A rebuild from all five at a fresh x: each helper exchanges four pad seeds.
        const FRESH_X = 250;
        expect(file.xs).not.toContain(FRESH_X);
        await rebuildOnto(cluster, file, [0, 1, 2, 3, 4], spare, FRESH_X, 1);
        for (const without of [0, 4]) {
          const set = [spare, ...[0, 1, 2, 3, 4].filter((j) => j !== without).map((j) => cluster.relays[j]!)];
          const got = await rebuild(file, shares(cluster, file, set));
          expect(Buffer.from(got).equals(Buffer.from(data)), `fresh x without relay ${without + 1}`).toBe(true);
        }
        await drop(cluster, spare, file);
      },
      60_000
    );
  });
});

describe('repair of a 64 MiB (3,5) file (disk relays)', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(5);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close();
  });

  it('relay 5 loses its share; helpers 1-3 rebuild it in ranges of 16 chunks, every chunk byte-identical to the lost one', async () => {
    // Byte-identical (SHA-256 of every chunk, as the relay lists it and as the collects answer) to the share
    // protect stored: the file decodes from it as from the original (the small sizes above decode it too).
    const data = new Uint8Array(randomBytes(64 * 1024 * 1024));
    const file = await protectOnto(cluster, data, 3, 1024 * 1024);
    const lost = cluster.relays[4]!;
    const before = await digests(lost, file);
    expect(before).toHaveLength(65);
    await drop(cluster, lost, file);
    expect(await rebuildOnto(cluster, file, [0, 1, 2], lost, file.xs[4]!, 16)).toEqual(before);
    expect(await digests(lost, file)).toEqual(before);
  }, 120_000);
});
