/**
 * Check pads (#15; shared/docs/renewal.md, "Check pads"): each dealer sends every receiver 16 bytes per
 * parity equation, uniform but for the last receiver's, which make them cancel over all receivers; each relay
 * XORs what it received into its check tags. So the coordinator still reads the XOR of all tags (the check
 * passes for honest dealing), but no relay's tags on their own are the GF(2)-linear function of its update
 * they were before: here the test recomputes every relay's unpadded tags from what it stores (old and new
 * share) and finds each padded tag different from its unpadded one, while the XORs over relays agree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from '@kofn/shared';
import { checkTags, client, deal, mint, protectOnto, startCluster, unpaddedTags, xorAll, type Cluster } from './testing/renewal.js';

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
