/**
 * treeParityWeights (renewal.md, "Tree files"): the parity equations of a tree file's total update. An
 * honest update, built by the same two-level split of zero the relay's dealer runs, satisfies every
 * equation; an update whose top polynomial has D(0) != 0, a group whose polynomial has degree k_g, or one
 * changed byte at any relay fails at least one. The equations are evaluated here with the scalar field
 * multiply (public test data), byte by byte.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gfMul } from './gf256.js';
import { parityWeights, treeEquationCount, treeParityWeights, type TreeSharing } from './renewal.js';
import { split } from './shamir.js';

const LEN = 16;

/** Every relay's update, relays group by group: D over the group points (secret `top`), then each group's split. */
function twoLevel(tree: TreeSharing, top: Uint8Array): Uint8Array[] {
  const groupShares = split(
    top,
    tree.k,
    tree.groups.map((g) => g.x)
  );
  return tree.groups.flatMap((g, gi) => split(groupShares[gi]!, g.k, g.xs));
}

/** The equations that fail on some byte of `u` under `weights`. */
function failing(weights: number[][], u: Uint8Array[]): number[] {
  const eqs = weights[0]!.length;
  const out: number[] = [];
  for (let eq = 0; eq < eqs; eq++) {
    for (let b = 0; b < LEN; b++) {
      let acc = 0;
      u.forEach((v, j) => (acc ^= gfMul(weights[j]![eq]!, v[b]!)));
      if (acc !== 0) {
        out.push(eq);
        break;
      }
    }
  }
  return out;
}

/** x^e in GF(2^8). */
const pow = (x: number, e: number): number => Array.from({ length: e }).reduce<number>((a) => gfMul(a, x), 1);

/** Tree shapes: K of G groups, each (k_g, n_g), x's distinct over the file and group points distinct. */
const trees = fc
  .record({
    K: fc.integer({ min: 2, max: 4 }),
    extra: fc.integer({ min: 0, max: 2 }),
    shapes: fc.array(fc.record({ k: fc.integer({ min: 2, max: 4 }), more: fc.integer({ min: 0, max: 2 }) }), { minLength: 6, maxLength: 6 }),
    xs: fc.shuffledSubarray(
      Array.from({ length: 255 }, (_, i) => i + 1),
      { minLength: 60, maxLength: 60 }
    ),
    gxs: fc.shuffledSubarray(
      Array.from({ length: 255 }, (_, i) => i + 1),
      { minLength: 6, maxLength: 6 }
    )
  })
  .map(({ K, extra, shapes, xs, gxs }): TreeSharing => {
    let at = 0;
    const groups = shapes.slice(0, K + extra).map((s, gi) => {
      const n = s.k + s.more;
      const g = { x: gxs[gi]!, k: s.k, xs: xs.slice(at, at + n) };
      at += n;
      return g;
    });
    return { k: K, groups };
  });

describe('treeParityWeights', () => {
  it('counts sum_g (n_g - k_g) + G - K + 1 equations, one weight per equation per relay', () => {
    const tree: TreeSharing = {
      k: 2,
      groups: [
        { x: 40, k: 2, xs: [1, 2, 3] },
        { x: 50, k: 2, xs: [4, 5] },
        { x: 60, k: 2, xs: [6, 7, 8] }
      ]
    };
    expect(treeEquationCount(tree)).toBe(1 + 0 + 1 + 2);
    const w = treeParityWeights(tree);
    expect(w).toHaveLength(8);
    expect(w.every((row) => row.length === 4)).toBe(true);
    // Relays past k_g weigh 1 in their own group equation only; every relay weighs in some equation.
    expect(w[2]).toEqual([1, 0, 0, 0]);
    expect(w[7]).toEqual([0, 1, 0, 0]);
    expect(w.every((row) => row.some((v) => v !== 0))).toBe(true);
  });

  it('refuses a top threshold above the groups, a group threshold above its relays, repeated x', () => {
    const code = (tree: TreeSharing) => {
      try {
        treeParityWeights(tree);
        return 'ok';
      } catch (err) {
        return (err as { code?: string }).code;
      }
    };
    // Two groups of two relays, with one thing wrong each time.
    const two = (k: number, a: TreeSharing['groups'][number], b: TreeSharing['groups'][number]): TreeSharing => ({ k, groups: [a, b] });
    const cases: Array<[TreeSharing, string]> = [
      [two(3, { x: 1, k: 2, xs: [1, 2] }, { x: 2, k: 2, xs: [3, 4] }), 'INVALID_THRESHOLD'],
      [two(2, { x: 1, k: 3, xs: [1, 2] }, { x: 2, k: 2, xs: [3, 4] }), 'INVALID_THRESHOLD'],
      [two(2, { x: 1, k: 2, xs: [1, 2] }, { x: 1, k: 2, xs: [3, 4] }), 'DUPLICATE_X'],
      [two(2, { x: 1, k: 2, xs: [1, 2] }, { x: 2, k: 2, xs: [2, 4] }), 'DUPLICATE_X']
    ];
    for (const [tree, expected] of cases) expect(code(tree), JSON.stringify(tree)).toBe(expected);
  });

  it('a flat file is the one-relay-per-group case: the top equations are parityWeights over the group points', () => {
    // With k_g = n_g the group equations vanish; the c_g are then functions of k_g sub-shares each.
    const tree: TreeSharing = { k: 2, groups: [10, 20, 30].map((x, i) => ({ x, k: 2, xs: [100 + 2 * i, 101 + 2 * i] })) };
    expect(treeEquationCount(tree)).toBe(parityWeights([10, 20, 30], 2)[0]!.length);
  });

  it('an honest two-level update of zero satisfies every equation (property)', () => {
    fc.assert(
      fc.property(trees, (tree) => {
        expect(failing(treeParityWeights(tree), twoLevel(tree, new Uint8Array(LEN)))).toEqual([]);
      }),
      { numRuns: 200 }
    );
  });

  it('D(0) != 0, a group of degree k_g, or one changed byte at any relay fails an equation (property)', () => {
    fc.assert(
      fc.property(trees, fc.integer({ min: 1, max: 255 }), fc.nat(), fc.integer({ min: 0, max: LEN - 1 }), (tree, a, pick, byte) => {
        const w = treeParityWeights(tree);
        // D(0) = a at one byte: the group shares are then shares of a non-zero secret.
        const top = new Uint8Array(LEN);
        top[byte] = a;
        expect(failing(w, twoLevel(tree, top)).length).toBeGreaterThan(0);
        // Group g's polynomial gains a * x^{k_g}: degree k_g, whatever n_g (with n_g = k_g its value at 0 moves).
        const g = pick % tree.groups.length;
        const honest = twoLevel(tree, new Uint8Array(LEN));
        const first = tree.groups.slice(0, g).reduce((s, gr) => s + gr.xs.length, 0);
        const group = tree.groups[g]!;
        const high = honest.map((v) => v.slice());
        group.xs.forEach((x, j) => (high[first + j]![byte]! ^= gfMul(a, pow(x, group.k))));
        expect(failing(w, high).length).toBeGreaterThan(0);
        // One byte changed at relay r.
        const r = pick % honest.length;
        const one = honest.map((v) => v.slice());
        one[r]![byte]! ^= a;
        expect(failing(w, one).length).toBeGreaterThan(0);
      }),
      { numRuns: 200 }
    );
  });
});
