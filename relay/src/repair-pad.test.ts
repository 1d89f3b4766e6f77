/**
 * The helper's masked term (repair.ts maskTerm: node:crypto AES-256-CTR over lambda * y) is byte for byte
 * the protocol's definition (shared/src/repair.ts: maskedContribution of the webcrypto keystreams repairPad),
 * so helpers of either implementation cancel each other's pads; and the pads do cancel in the receiver's sum.
 */
import { describe, expect, it } from 'vitest';
import { REPAIR_SEED_BYTES, maskedContribution, randomBytes, repairCoefficient, repairPad, split, sumContributions } from '@kofn/shared';
import { maskTerm } from './repair.js';

describe('repair term masking (maskTerm)', () => {
  it('equals maskedContribution with repairPad keystreams, for chunk indexes up to 2^32 - 2 and odd lengths', async () => {
    for (const [index, length] of [
      [0, 1],
      [1, 1_048_576 + 16],
      [7, 1337],
      [2, 65_536],
      [3, 65_537],
      [0xfffffffe, 4099]
    ] as const) {
      const body = new Uint8Array(randomBytes(length));
      const seeds = [new Uint8Array(randomBytes(REPAIR_SEED_BYTES)), new Uint8Array(randomBytes(REPAIR_SEED_BYTES))];
      const pads = await Promise.all(seeds.map((s) => repairPad(s, index, length)));
      const expected = maskedContribution(body, 0x53, pads);
      // In place: the term is the very buffer it was given, the share in it overwritten.
      const term = maskTerm(body, 0x53, seeds, index);
      expect(term).toBe(body);
      expect(Buffer.from(term).equals(Buffer.from(expected)), `index ${index}, ${length} bytes`).toBe(true);
    }
  });

  it('three helpers\u2019 terms sum to the share at the new x (the pads cancel)', () => {
    const secret = new Uint8Array(randomBytes(5000));
    const xs = [3, 9, 200];
    const xNew = 77;
    const shares = split(secret, 3, [...xs, xNew]);
    // Pairwise seeds: helper a and helper b share seeds[a][b].
    const seed = () => new Uint8Array(randomBytes(REPAIR_SEED_BYTES));
    const s01 = seed();
    const s02 = seed();
    const s12 = seed();
    const seedsOf = [
      [s01, s02],
      [s01, s12],
      [s02, s12]
    ];
    // maskTerm overwrites its input: each helper masks a copy of its share.
    const terms = xs.map((_, j) => maskTerm(new Uint8Array(shares[j]!), repairCoefficient(xs, j, xNew), seedsOf[j]!, 5));
    // Each term alone is masked (equal to the unmasked product by chance: 2^-40000).
    terms.forEach((t, j) => expect(Buffer.from(t).equals(Buffer.from(maskedContribution(shares[j]!, repairCoefficient(xs, j, xNew), [])))).toBe(false));
    expect(Buffer.from(sumContributions(terms)).equals(Buffer.from(shares[3]!))).toBe(true);
  });
});
