/**
 * The field arithmetic of proactive renewal (#15; shared/docs/renewal.md): the parity-check weights that
 * say whether a total update is a codeword with zero at 0, and a byte-wise multiply by a public constant on
 * the GF(2^8) kernel (`mulsum`: split-nibble tables in registers, so no memory address depends on the
 * update's bytes; the scalar `gfMul` is for public operands only, see gf256.ts).
 *
 * Herzberg, Jarecki, Krawczyk, Yung, "Proactive secret sharing" (CRYPTO 1995), §3: the update polynomials
 * have zero constant term, so the total update (U(x_1)..U(x_n)) lies in the code
 * C = {(U(x_1)..U(x_n)) : deg U < k, U(0) = 0}. Its dual is spanned by one equation per c = k..n:
 * U(x_c) = sum_{j<k} l_j(x_c) U(x_j) + l_0(x_c) U(0), with Lagrange basis l over {0, x_1..x_{k-1}}.
 */
import { KofnError } from './errors.js';
import { createKernel, writeNibbleTable, type GfKernel } from './gf256.js';
import { assertThreshold, assertXs, lagrangeAt } from './shamir.js';

/**
 * weights[j][c - k] = h_{c,j}: relay j's weight in parity equation c (0-based: equations k-1..n-1 in the
 * relays' manifest order). The first k-1 relays are the interpolation base and appear in every equation;
 * relay c >= k appears in its own equation with weight 1.
 */
export function parityWeights(xs: readonly number[], k: number): number[][] {
  assertThreshold(k);
  assertXs(xs);
  const n = xs.length;
  if (k > n) throw new KofnError('INVALID_THRESHOLD', 'The threshold is greater than the number of servers.');
  const base = [0, ...xs.slice(0, k - 1)];
  const weights = xs.map(() => new Array<number>(n - k + 1).fill(0));
  for (let c = k - 1; c < n; c++) {
    const l = lagrangeAt(base, xs[c]!);
    for (let j = 0; j < k - 1; j++) weights[j]![c - k + 1] = l[j + 1]!;
    weights[c]![c - k + 1] = 1;
  }
  return weights;
}

let kernel: GfKernel | undefined;

/** out = c * data, byte-wise in GF(2^8), through the kernel (no secret-indexed lookups). */
export function mulConstant(data: Uint8Array, c: number): Uint8Array<ArrayBuffer> {
  return mulConstantInto(data, c, new Uint8Array(data.length));
}

/**
 * mulConstant into `out` (at least data.length bytes; answers its first data.length): a relay's renewal
 * check multiplies every chunk once per equation, and a buffer reused from chunk to chunk makes no garbage
 * (#15 relay RSS).
 */
export function mulConstantInto<T extends Uint8Array>(data: Uint8Array, c: number, out: T): T {
  if (!Number.isInteger(c) || c < 0 || c > 255) throw new KofnError('INVALID_ARGUMENT', `"constant" expected integer 0..255, got ${c}`);
  if (out.length < data.length) throw new KofnError('INVALID_ARGUMENT', '"out" is shorter than the data.');
  kernel ??= createKernel('auto');
  const len = (data.length + 63) & ~63;
  // Layout: one 32-byte nibble table, then the source row, then the destination row.
  const tables = 0;
  const src = 64;
  const dst = src + len;
  kernel.ensure(dst + len);
  let mem = kernel.bytes();
  writeNibbleTable(mem, tables, c);
  mem.set(data, src);
  mem.fill(0, src + data.length, src + len);
  kernel.mulsum(dst, 0, false, src, len, tables, 1, len);
  mem = kernel.bytes();
  out.set(mem.subarray(dst, dst + data.length));
  // The update stays in the workspace otherwise; it is not secret alone, but nothing needs it there.
  mem.fill(0, src, dst + len);
  return out.subarray(0, data.length) as T;
}

/** 96-bit GCM nonce for parity equation `eq` and chunk `index`: unique per (K, eq, index), the same at every relay. */
export function checkNonce(eq: number, index: number): Uint8Array<ArrayBuffer> {
  const n = new Uint8Array(12);
  const dv = new DataView(n.buffer);
  dv.setUint32(0, eq);
  dv.setUint32(4, index);
  return n;
}

/** GMAC by WebCrypto: AES-128-GCM of an empty plaintext with `data` as additional data; the result is the tag. */
export async function gmacWeb(key: Uint8Array<ArrayBuffer>, iv: Uint8Array<ArrayBuffer>, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt']);
  return new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: data, tagLength: 128 }, k, new Uint8Array(0)));
}

/**
 * The coordinator's side of renewal.md step 4: given every relay's tags (tags[j][eq], 16 bytes each, in
 * manifest order), the key K and the body length of every chunk (by index), answers the parity equations
 * that failed (0-based, equation eq is relay k-1+eq's), empty when the total update is a codeword with
 * zero at 0. The expected value per equation is the XOR of n tags of the zero vector.
 */
export async function failedEquations(tags: ReadonlyArray<readonly Uint8Array[]>, key: Uint8Array<ArrayBuffer>, chunks: ReadonlyArray<{ index: number; bodyLength: number }>): Promise<number[]> {
  const n = tags.length;
  const eqs = tags[0]?.length ?? 0;
  if (n < 2 || eqs < 1 || tags.some((t) => t.length !== eqs || t.some((v) => v.length !== 16))) {
    throw new KofnError('INVALID_ARGUMENT', '"tags" expected one 16-byte tag per equation from every relay');
  }
  const failed: number[] = [];
  for (let eq = 0; eq < eqs; eq++) {
    const acc = new Uint8Array(16);
    for (const t of tags) for (let b = 0; b < 16; b++) acc[b]! ^= t[eq]![b]!;
    // n copies of the same zero-vector tag cancel in pairs: one remains when n is odd.
    if (n % 2 === 1) {
      for (const c of chunks) {
        const z = await gmacWeb(key, checkNonce(eq, c.index), new Uint8Array(c.bodyLength));
        for (let b = 0; b < 16; b++) acc[b]! ^= z[b]!;
      }
    }
    if (acc.some((v) => v !== 0)) failed.push(eq);
  }
  return failed;
}
