/**
 * Replacing a relay by one at a fresh x inside a renewal (#15/#16; shared/docs/renewal.md, "Replacing a relay
 * at a fresh x"). The epoch e+1 share at the fresh point x_s is made in the renewal itself: each dealer d
 * (also a repair helper) sends the fresh receiver lambda_d(x_s) * y_d + d_d(x_s), so the receiver's k
 * contributions sum to f_e(x_s) + D(x_s) = f_{e+1}(x_s), and it never holds an epoch-e point (Herzberg et al.,
 * "Proactive secret sharing", CRYPTO 1995, §3, with the share recovery of §4 folded into the update).
 *
 * The parity check then runs over the new set of x. The fresh receiver's update u_s = new_s - f_e(x_s) is
 * unknown to everyone, but linear in shares relays hold: u_s = new_s - sum_d lambda_d(x_s) old_d. So each
 * relay tags one vector w * new + wo * old, with wo = w for a relay that is not a dealer, wo = w + h_s * lambda
 * for a dealer (characteristic 2: minus is plus), and the fresh receiver w * new alone; the XOR of the tags is
 * then the same GMAC of sum_j h_j u_j as in the plain check, zero iff the update is a codeword with U(0) = 0.
 */
import { KofnError } from './errors.js';
import { gfMul } from './gf256.js';
import { parityWeights } from './renewal.js';
import { assertXs, lagrangeAt } from './shamir.js';

export interface FreshCheckWeights {
  /** Weights of the relay's new (epoch e+1) share, one per parity equation. */
  w: number[];
  /** Weights of its epoch-e share; the fresh receiver has none (all zero). */
  wo: number[];
}

/**
 * The Lagrange coefficients at `fx` over the dealers' x (each dealer multiplies its epoch-e share by its own):
 * checks k >= 2 distinct dealers and a fresh x that is none of theirs.
 */
export function freshCoefficients(dealers: readonly number[], fx: number): number[] {
  assertXs(dealers);
  if (dealers.length < 2) throw new KofnError('INVALID_ARGUMENT', 'A fresh share needs at least two dealers.');
  if (!Number.isInteger(fx) || fx < 1 || fx > 255) throw new KofnError('INVALID_X', `"fx" expected integer 1..255, got ${fx}`);
  if (dealers.includes(fx)) throw new KofnError('DUPLICATE_X', 'The fresh x is one of the dealers\u2019.');
  return lagrangeAt(dealers, fx);
}

/**
 * Check weights of every relay of the new set (`xs`, manifest order, including `fx`) when the relay at `fx`
 * is fresh and `dealers` (x of k relays that keep their share) dealt. Answers one entry per x of `xs`.
 */
export function freshCheckWeights(xs: readonly number[], k: number, dealers: readonly number[], fx: number): FreshCheckWeights[] {
  const s = xs.indexOf(fx);
  if (s < 0) throw new KofnError('INVALID_ARGUMENT', 'The fresh x is not in the new set.');
  if (dealers.length !== k || !dealers.every((d) => xs.includes(d))) throw new KofnError('INVALID_ARGUMENT', 'The dealers must be k relays of the new set.');
  const lambda = freshCoefficients(dealers, fx);
  const h = parityWeights(xs, k);
  const hs = h[s]!;
  return xs.map((x, j) => {
    const w = [...h[j]!];
    if (j === s) return { w, wo: w.map(() => 0) };
    const d = dealers.indexOf(x);
    return { w, wo: d < 0 ? [...w] : w.map((v, eq) => v ^ gfMul(hs[eq]!, lambda[d]!)) };
  });
}
