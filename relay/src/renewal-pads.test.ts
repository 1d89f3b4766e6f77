/**
 * Check pads (#15; shared/docs/renewal.md, "Check pads"): each dealer sends every receiver 16 bytes per
 * parity equation, uniform but for the last receiver's, which make them cancel over all receivers; each relay
 * XORs what it received into its check tags. So the coordinator still reads the XOR of all tags (the check
 * passes for honest dealing), but no relay's tags on their own are the GF(2)-linear function of its update
 * they were before: here the test recomputes every relay's unpadded tags from what it stores (old and new
 * share) and finds each padded tag different from its unpadded one, while the XORs over relays agree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER_BYTES, checkNonce, mulConstant, parityWeights, randomBytes } from '@kofn/shared';
import { gmac } from './renewal.js';
import { checkTags, client, deal, mint, protectOnto, readShare, startCluster, type Cluster, type StoredFile } from './testing/renewal.js';

/** What relay j's tags were without pads: XOR over chunks of GMAC_K(nonce(eq, i), w_eq * (new - old)). */
async function unpaddedTags(cluster: Cluster, file: StoredFile, j: number, key: Uint8Array, next: number): Promise<Buffer[]> {
  const weights = parityWeights(file.xs, file.k)[j]!;
  const tags = weights.map(() => Buffer.alloc(16));
  const r = cluster.relays[j]!;
  for (let i = 0; i < file.chunks; i++) {
    const old = await readShare(cluster, r, file.fileId, i, next - 1);
    const now = await readShare(cluster, r, file.fileId, i, next);
    const update = new Uint8Array(old.length - HEADER_BYTES);
    for (let b = 0; b < update.length; b++) update[b] = old[HEADER_BYTES + b]! ^ now[HEADER_BYTES + b]!;
    weights.forEach((w, eq) => {
      const t = gmac(key, checkNonce(eq, i), mulConstant(update, w));
      for (let b = 0; b < 16; b++) tags[eq]![b]! ^= t[b]!;
    });
  }
  return tags;
}

const xorAll = (rows: Uint8Array[][], eq: number): Buffer => {
  const acc = Buffer.alloc(16);
  for (const row of rows) for (let b = 0; b < 16; b++) acc[b]! ^= row[eq]![b]!;
  return acc;
};

describe.each([
  [2, 3],
  [3, 5]
])('check pads, (%i,%i) on disk relays', (k, n) => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(n);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close();
  });

  it('every relay\u2019s tags are masked, the masks cancel over all relays, and they are fresh every renewal', { timeout: 120_000 }, async () => {
    const file = await protectOnto(cluster, new Uint8Array(randomBytes(50_000)), k, 16 * 1024);
    const dxs = file.xs.slice(0, k);
    const masksByRenewal: Buffer[][] = [];
    for (let e = 0; e < 2; e++) {
      const next = e + 1;
      for (let d = 0; d < k; d++) await deal(cluster, file, next, d);
      for (const r of cluster.relays) await client(r, await mint(cluster, r, file.fileId, 'renew_prepare', { ep: next, dxs })).renewalStep(file.fileId, next, 'prepare', {}, 1 << 20);
      const key = randomBytes(16);
      const padded = await checkTags(cluster, file, next, key, dxs);
      const plain = await Promise.all(cluster.relays.map((_, j) => unpaddedTags(cluster, file, j, key, next)));
      const eqs = n - k + 1;
      expect(padded.every((row) => row.length === eqs)).toBe(true);
      const masks: Buffer[] = [];
      for (const [j, row] of padded.entries()) {
        for (let eq = 0; eq < eqs; eq++) {
          // Each tag the coordinator sees differs from the relay's unpadded tag (equal by chance: 2^-128).
          expect(Buffer.from(row[eq]!).equals(plain[j]![eq]!), `relay ${j}, equation ${eq}`).toBe(false);
          masks.push(Buffer.from(row[eq]!.map((v, b) => v ^ plain[j]![eq]![b]!)));
        }
      }
      // The XOR over all relays is unchanged by the pads: the check reads exactly what it read before.
      for (let eq = 0; eq < eqs; eq++) expect(xorAll(padded, eq).equals(xorAll(plain, eq))).toBe(true);
      masksByRenewal.push(masks);
    }
    // Fresh pads every renewal: no relay's mask repeats.
    masksByRenewal[0]!.forEach((m, i) => expect(m.equals(masksByRenewal[1]![i]!)).toBe(false));
  });
});
