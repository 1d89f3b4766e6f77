import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { gfMul } from './gf256.js';
import { freshCheckWeights, freshCoefficients } from './renewal-fresh.js';
import { combine, split } from './shamir.js';

const mulRef = (data: Uint8Array, c: number): Uint8Array => data.map((b) => gfMul(b, c));
const xor = (a: Uint8Array, b: Uint8Array): Uint8Array => a.map((v, i) => v ^ b[i]!);
const LEN = 64;

/**
 * Models a renewal that replaces the relay at `leaving` by one at `fx`, byte-wise, with the dealers' update
 * polynomials `bad` (dishonest when given): answers the new set's x, new shares, old shares (zero for the
 * fresh receiver) and the check sums per equation.
 */
function model(k: number, n: number, opts: { badConstant?: boolean } = {}) {
  const oldXs = Array.from({ length: n }, (_, j) => 3 + 11 * j);
  const secret = new Uint8Array(randomBytes(LEN));
  const old = split(secret, k, oldXs);
  const leaving = oldXs[1]!;
  const fx = 200;
  const xs = [...oldXs.filter((x) => x !== leaving), fx].sort((a, b) => a - b);
  const dealers = xs.filter((x) => x !== fx).slice(0, k);
  const lambda = freshCoefficients(dealers, fx);
  const newShares: Uint8Array[] = xs.map(() => new Uint8Array(LEN));
  const oldShares = xs.map((x) => (x === fx ? new Uint8Array(LEN) : old[oldXs.indexOf(x)]!));
  for (const [d, dx] of dealers.entries()) {
    const zero = new Uint8Array(LEN).fill(opts.badConstant && d === 0 ? 5 : 0);
    const sub = split(zero, k, xs);
    xs.forEach((x, j) => {
      // The fresh receiver's contribution: the dealer's Lagrange term at fx plus its sub-share.
      const part = x === fx ? xor(sub[j]!, mulRef(old[oldXs.indexOf(dx)]!, lambda[d]!)) : sub[j]!;
      newShares[j] = xor(newShares[j]!, part);
    });
  }
  xs.forEach((x, j) => {
    if (x !== fx) newShares[j] = xor(newShares[j]!, oldShares[j]!);
  });
  const weights = freshCheckWeights(xs, k, dealers, fx);
  const sums = Array.from({ length: n - k + 1 }, (_, eq) => {
    const acc = new Uint8Array(LEN);
    xs.forEach((_, j) => {
      const v = xor(mulRef(newShares[j]!, weights[j]!.w[eq]!), mulRef(oldShares[j]!, weights[j]!.wo[eq]!));
      v.forEach((b, i) => (acc[i]! ^= b));
    });
    return acc;
  });
  return { secret, xs, newShares, sums, fx };
}

describe('freshCheckWeights', () => {
  it.each([
    [2, 3],
    [3, 5],
    [4, 5]
  ])('(%i,%i): an honest renewal onto a fresh x passes every equation and any k of the new set rebuild the secret', (k, n) => {
    const m = model(k, n);
    for (const s of m.sums) expect(s.every((v) => v === 0)).toBe(true);
    for (let start = 0; start + k <= n; start++) {
      const pick = m.xs.slice(start, start + k).map((x) => ({ x, y: m.newShares[m.xs.indexOf(x)]! }));
      expect(Buffer.from(combine(pick)).equals(Buffer.from(m.secret))).toBe(true);
    }
  });

  it.each([
    [2, 3],
    [3, 5]
  ])('(%i,%i): a dealer with d(0) != 0 fails the check', (k, n) => {
    const m = model(k, n, { badConstant: true });
    expect(m.sums.some((s) => s.some((v) => v !== 0))).toBe(true);
  });

  it('refuses a fresh x among the dealers, dealers outside the set, and a set without the fresh x', () => {
    expect(() => freshCoefficients([3, 14], 14)).toThrow(expect.objectContaining({ code: 'DUPLICATE_X' }) as Error);
    expect(() => freshCheckWeights([3, 14, 200], 2, [3, 99], 200)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    expect(() => freshCheckWeights([3, 14, 25], 2, [3, 14], 200)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
  });
});
