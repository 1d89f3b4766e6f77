/**
 * Renewed shares are uniform and independent of the shares they replace (#15 tests: "new shares pass the
 * chi-square uniformity test"). Real relays over loopback renew a file of constant bytes (all zero: the
 * plaintext itself is as far from uniform as it gets), then, per relay, the pairs (old byte, new byte) of
 * every share body are tested against the uniform distribution on all 65,536 pairs. Uniform pairs mean
 * both that the new share is uniform and that it is independent of the old one (a joint distribution is
 * uniform only if it is the product of uniform marginals). A negative control shows the test has teeth: a
 * "renewal" that adds the same constant update every time fails it by orders of magnitude.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER_BYTES } from '@kofn/shared';
import { dealPrepareCheck, protectOnto, readShare, startCluster, type Cluster } from './testing/renewal.js';

/** Pearson chi-squared of `counts` against the uniform distribution over its cells. */
function chiSquared(counts: Uint32Array, total: number): number {
  const e = total / counts.length;
  let s = 0;
  for (const c of counts) s += (c - e) ** 2 / e;
  return s;
}

/**
 * Upper 0.001 quantile of chi-squared with `df` degrees of freedom, by Wilson-Hilferty (Johnson, Kotz,
 * Balakrishnan, "Continuous univariate distributions" vol. 1, 18.23); for df = 255 it gives 330.5, the
 * exact table value to one decimal. A uniform source exceeds it once in a thousand runs.
 */
function chi2Upper001(df: number): number {
  const z = 3.0902; // standard normal upper 0.001 quantile
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

/** Counts of the pairs (old[i], new[i]) in a 256 x 256 table. */
function pairCounts(pairs: Array<[Uint8Array, Uint8Array]>): { counts: Uint32Array; total: number } {
  const counts = new Uint32Array(65536);
  let total = 0;
  for (const [a, b] of pairs) {
    for (let i = 0; i < a.length; i++) counts[(a[i]! << 8) | b[i]!]!++;
    total += a.length;
  }
  return { counts, total };
}

describe('renewed shares (2,3) on disk relays', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(3);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close();
  });

  it('every relay: (share at e, share at e+1) is uniform on 256 x 256 pairs, and so is (e+1, e+2); a fixed update fails', { timeout: 180_000 }, async () => {
    // 2 MiB of zeros in 256 KiB chunks: ~2.1 M byte pairs per relay, ~32 per cell of the 65,536.
    const data = new Uint8Array(2 * 1024 * 1024);
    const file = await protectOnto(cluster, data, 2, 256 * 1024);
    expect(await dealPrepareCheck(cluster, file, 0)).toEqual([]);
    expect(await dealPrepareCheck(cluster, file, 1, { dealers: [2, 1] })).toEqual([]);
    const bound = chi2Upper001(65535);
    expect(bound).toBeGreaterThan(66_600);
    expect(bound).toBeLessThan(66_700);
    // The metadata record (chunk 0) is a few hundred bytes; the data chunks carry the statistic.
    const indexes = [...Array(file.chunks).keys()].slice(1);
    for (const r of cluster.relays) {
      const at = async (epoch: number) => Promise.all(indexes.map(async (i) => (await readShare(cluster, r, file.fileId, i, epoch)).subarray(HEADER_BYTES)));
      const [e0, e1, e2] = [await at(0), await at(1), await at(2)];
      for (const [from, to] of [
        [e0, e1],
        [e1, e2]
      ] as const) {
        const { counts, total } = pairCounts(from.map((a, i) => [a, to[i]!]));
        expect(total).toBeGreaterThan(2_000_000);
        expect(chiSquared(counts, total), `${r.name}: pairs of consecutive epochs`).toBeLessThan(bound);
      }
      // Negative control: the same update added at every position (new = old XOR 0x5a) is the kind of
      // dependence the test exists to catch.
      const fixed = e0.map((a) => a.map((v) => v ^ 0x5a));
      const control = pairCounts(e0.map((a, i) => [a, fixed[i]!]));
      expect(chiSquared(control.counts, control.total)).toBeGreaterThan(100 * bound);
    }
  });
});
