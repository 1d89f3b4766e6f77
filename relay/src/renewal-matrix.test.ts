/**
 * Renewal round trips over the issue's size x (k,n) matrix (#15): sizes 0 B, 1 B, 1 MiB + 7, 64 MiB and
 * (k,n) in (2,3), (3,5), (5,5); after renewal every k-subset of relays rebuilds byte-identical and every
 * stored body changed. renewal.test.ts already covers 0 B, 1 B and 1 MiB + 7 at (2,3) and (3,5) (disk) and
 * (2,3) (S3); this file adds the rest, sized for CI: (5,5) with the three small sizes, and 64 MiB once, with
 * (3,5) in 1 MiB chunks, dealt, staged and checked 4 chunks per request as the coordinator walks ranges.
 * Shares are read once per chunk and fed to one decoder per k-subset, so 64 MiB x C(5,3) = 10 rebuilds cost
 * one pass over the relays' shares.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER_BYTES, createRetrieveStream, fileIdFromHex, parseHeader } from '@kofn/shared';
import { dealPrepareCheck, protectOnto, readShare, startCluster, type Cluster, type StoredFile } from './testing/renewal.js';

function subsets<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)];
}

/** A decoder for one k-subset of relays, hashing what it rebuilds (the file itself is never kept whole). */
function subsetDecoder(file: StoredFile) {
  const rs = createRetrieveStream({ fileId: fileIdFromHex(file.fileId), epoch: 1, k: file.k });
  const writer = rs.writable.getWriter();
  const digest = (async () => {
    const h = createHash('sha256');
    let size = 0;
    for await (const part of rs.readable) {
      h.update(part);
      size += part.length;
    }
    return { sha256: h.digest('hex'), size };
  })();
  digest.catch(() => undefined);
  return { writer, digest };
}

/**
 * Reads every relay's share of every chunk at epochs 0 and 1 once: each renewed share names epoch 1 and its
 * relay's x, its body differs from the epoch-0 body (equal by chance with probability 2^-128 for 16+ bytes),
 * and each k-subset's decoder gets its relays' epoch-1 shares. Answers each subset's digest and the number of
 * bodies compared.
 */
async function verifyRenewed(cluster: Cluster, file: StoredFile): Promise<{ sets: number[][]; results: Array<{ sha256: string; size: number }>; compared: number }> {
  const sets = subsets([...cluster.relays.keys()], file.k);
  const decoders = sets.map(() => subsetDecoder(file));
  let compared = 0;
  for (let i = 0; i < file.chunks; i++) {
    const renewed = await Promise.all(cluster.relays.map((r) => readShare(cluster, r, file.fileId, i, 1)));
    for (const [j, r] of cluster.relays.entries()) {
      const old = await readShare(cluster, r, file.fileId, i, 0);
      const now = renewed[j]!;
      expect(parseHeader(now).epoch).toBe(1);
      expect(parseHeader(now).x).toBe(file.xs[j]);
      expect(now.length).toBe(old.length);
      expect(Buffer.from(now.subarray(HEADER_BYTES)).equals(Buffer.from(old.subarray(HEADER_BYTES)))).toBe(false);
      compared += 1;
    }
    await Promise.all(decoders.map((d, s) => d.writer.write({ index: i, shares: sets[s]!.map((j) => renewed[j]!.slice()) })));
  }
  await Promise.all(decoders.map((d) => d.writer.close()));
  return { sets, results: await Promise.all(decoders.map((d) => d.digest)), compared };
}

async function renewAndVerify(cluster: Cluster, data: Uint8Array, k: number, chunkSize?: number, rangeChunks?: number): Promise<void> {
  const want = createHash('sha256').update(data).digest('hex');
  const file = await protectOnto(cluster, data, k, chunkSize);
  expect(await dealPrepareCheck(cluster, file, 0, rangeChunks === undefined ? {} : { rangeChunks })).toEqual([]);
  const { sets, results, compared } = await verifyRenewed(cluster, file);
  expect(sets.length).toBeGreaterThan(0);
  for (const [s, r] of results.entries()) expect({ set: sets[s], ...r }).toEqual({ set: sets[s], sha256: want, size: data.length });
  expect(compared).toBe(file.chunks * cluster.relays.length);
}

describe('renewal of a (5,5) file on disk relays', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(5);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close(); // undefined when beforeAll failed
  });

  it.each([0, 1, 1024 * 1024 + 7])(
    'a %i-byte file renews: the check passes, the 5 relays rebuild it at e+1 byte-identical, every body changed',
    async (size) => {
      await renewAndVerify(cluster, new Uint8Array(randomBytes(size)), 5);
    },
    120_000
  );
});

describe('renewal of a 64 MiB (3,5) file on disk relays', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(5);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close();
  });

  it('renews in ranges of 4 chunks: the check passes, all 10 subsets of 3 relays rebuild it byte-identical, every body changed', async () => {
    await renewAndVerify(cluster, new Uint8Array(randomBytes(64 * 1024 * 1024)), 3, 1024 * 1024, 4);
  }, 600_000);
});
