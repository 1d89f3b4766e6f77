/**
 * Systematic Reed-Solomon erasure code over GF(2^8) (polynomial 0x11b), in evaluation form: the k pieces
 * of a chunk are the values at k distinct public points ("data points") of the one polynomial P of degree
 * below k that takes them there, and fragment j is P(x_j). Any k fragments at distinct points determine P
 * (an MDS code: Reed & Solomon 1960; Rabin's IDA, JACM 1989, is the same construction), so any k rebuild
 * every piece. The data points are the first k relays' x, so those fragments ARE the pieces (systematic):
 * a reader holding them rebuilds with a plain copy.
 *
 * Encoding and rebuilding are one operation, evaluating P at other points from k known (point, value)
 * rows: out_t = sum_i l_i(target_t) * y_i with the Lagrange basis l_i of the known points. Every
 * coefficient is public (derived from x-coordinates only), and the bytes are ciphertext, but they still
 * go through the same nibble-table multiply-accumulate kernel (`GfKernel.mulsum`, WASM SIMD with a JS
 * fallback) that Shamir combine uses, block by block at flat memory. See docs/compact-mode.md.
 */
import type { GfKernel } from './gf256.js';
import { writeNibbleTable } from './gf256.js';
import { SPLIT_BLOCK, lagrangeAt } from './shamir.js';

const pad16 = (n: number): number => (n + 15) & ~15;

/**
 * Writes P(targets[t]) into outs[t] at `offset`, for t < targets.length, where P is the polynomial of degree
 * below k = ys.length through (xs[i], ys[i]); each row is `len` bytes long, a shorter ys[i] being followed
 * by zeros (the padding of the last ciphertext piece, which is never stored). Unvalidated: callers pass
 * distinct non-zero xs and check their inputs once per file.
 */
export function evaluateRows(kernel: GfKernel, ys: readonly Uint8Array[], xs: readonly number[], targets: readonly number[], len: number, outs: readonly Uint8Array[], offset: number): void {
  const k = ys.length;
  const t = targets.length;
  if (t === 0 || len === 0) return;
  const block = Math.min(pad16(len), SPLIT_BLOCK);
  const tables = 0;
  const rows = pad16(t * k * 32);
  const o = rows + k * block;
  kernel.ensure(o + block);
  let mem = kernel.bytes();
  // Target t's k tables are contiguous, as mulsum reads them.
  targets.forEach((at, ti) => lagrangeAt(xs, at).forEach((l, i) => writeNibbleTable(mem, tables + (ti * k + i) * 32, l)));
  for (let p = 0; p < len; p += block) {
    const m = Math.min(block, len - p);
    // Each block of the k known rows is copied in once and used for every target (not once per target).
    for (let i = 0; i < k; i++) {
      const row = rows + i * block;
      const y = ys[i]!;
      const have = Math.max(0, Math.min(m, y.length - p));
      if (have > 0) mem.set(y.subarray(p, p + have), row);
      if (have < m) mem.fill(0, row + have, row + m);
    }
    for (let ti = 0; ti < t; ti++) {
      kernel.mulsum(o, 0, false, rows, block, tables + ti * k * 32, k, pad16(m));
      mem = kernel.bytes();
      outs[ti]!.set(mem.subarray(o, o + m), offset + p);
    }
  }
}

/** Length of each fragment of a `cipherLength`-byte ciphertext cut into k pieces: ceil(cipherLength / k). */
export function fragmentLength(cipherLength: number, k: number): number {
  return Math.ceil(cipherLength / k);
}
