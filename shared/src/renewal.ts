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
import { createKernel, gfMul, writeNibbleTable, type GfKernel } from './gf256.js';
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

/**
 * A tree file's sharing as renewal sees it (docs/multilevel.md, renewal.md "Tree files"): top threshold K
 * over groups, each group's point X_g, threshold k_g and its relays' x's in manifest order. Only groups this
 * deployment holds (local groups): a tree with a remote group is not renewed.
 */
export interface TreeSharing {
  k: number;
  groups: ReadonlyArray<{ x: number; k: number; xs: readonly number[] }>;
}

function assertTreeSharing(tree: TreeSharing): void {
  assertThreshold(tree.k);
  if (tree.groups.length < tree.k) throw new KofnError('INVALID_THRESHOLD', 'The top threshold is greater than the number of groups.');
  assertXs(tree.groups.map((g) => g.x));
  assertXs(tree.groups.flatMap((g) => g.xs));
  for (const g of tree.groups) {
    assertThreshold(g.k);
    if (g.k > g.xs.length) throw new KofnError('INVALID_THRESHOLD', 'A group threshold is greater than the number of servers in the group.');
  }
}

/**
 * The number of parity equations of a tree file's renewal check: sum_g (n_g - k_g) inside the groups, and
 * G - K + 1 over the group constants. The coordinator's weights (treeParityWeights) and the dealer's check
 * pads (relay/src/renewal.ts, 16 bytes per equation) must agree on it, so both call this.
 */
export function treeEquationCount(tree: TreeSharing): number {
  return tree.groups.reduce((a, g) => a + g.xs.length - g.k, 0) + tree.groups.length - tree.k + 1;
}

/**
 * Parity-check weights of a tree file's total update (renewal.md, "Tree files"): weights[j][eq] is relay j's
 * weight in equation eq, relays numbered group by group in the order given. An honest update is
 * u_{g,j} = E_g(x_{g,j}) with deg E_g < k_g and E_g(0) = D(X_g), deg D < K, D(0) = 0. Equations, in order:
 *
 * 1. per group g and relay c >= k_g of it: u_{g,c} + sum_{j<k_g} l^g_j(x_{g,c}) u_{g,j} = 0 (Lagrange over the
 *    group's first k_g x's: u_g lies on a polynomial of degree < k_g);
 * 2. with c_g = sum_{j<k_g} l^g_j(0) u_{g,j} (that polynomial's value at 0), the flat zero-code equations of
 *    parityWeights over the group points at threshold K, c_g substituted: relay j < k_g of group g weighs
 *    h_{c,g} * l^g_j(0).
 *
 * Together they hold iff the update has that form: (1) fixes each E_g, (2) says the E_g(0) are a codeword
 * of {(D(X_1)..D(X_G)) : deg D < K, D(0) = 0}.
 */
export function treeParityWeights(tree: TreeSharing): number[][] {
  assertTreeSharing(tree);
  const eqs = treeEquationCount(tree);
  const n = tree.groups.reduce((a, g) => a + g.xs.length, 0);
  const weights = Array.from({ length: n }, () => new Array<number>(eqs).fill(0));
  const top = parityWeights(
    tree.groups.map((g) => g.x),
    tree.k
  );
  let eq = 0;
  let first = 0;
  const atZero: number[][] = [];
  for (const g of tree.groups) {
    const base = g.xs.slice(0, g.k);
    for (let c = g.k; c < g.xs.length; c++) {
      const l = lagrangeAt(base, g.xs[c]!);
      for (let j = 0; j < g.k; j++) weights[first + j]![eq] = l[j]!;
      weights[first + c]![eq] = 1;
      eq++;
    }
    atZero.push(lagrangeAt(base, 0));
    first += g.xs.length;
  }
  first = 0;
  tree.groups.forEach((g, gi) => {
    top[gi]!.forEach((h, t) => {
      for (let j = 0; j < g.k; j++) weights[first + j]![eq + t] = gfMul(h, atZero[gi]![j]!);
    });
    first += g.xs.length;
  });
  return weights;
}

/**
 * What a deal token binds (claim "rh" = base64url SHA-256 of this string; relay/src/renewal.ts checks it, the
 * coordinator's renewal.ts mints it): the receivers' x and URL, in order; tokens are not part of it. A tree
 * deal (renewal.md, "Tree files") also binds each receiver's group (gx, gk) and K, in a shape of its own, so a
 * flat receiver list binds exactly as before (tokens minted before trees stay valid) and no flat list binds
 * like a tree. One function, so the two sides cannot drift apart.
 */
export function dealReceiversBinding(receivers: ReadonlyArray<{ x: number; url: string; gx?: number; gk?: number }>, K?: number): string {
  const tree = K !== undefined || receivers.some((r) => r.gx !== undefined || r.gk !== undefined);
  return JSON.stringify(tree ? { K: K ?? null, r: receivers.map((r) => [r.x, r.url, r.gx ?? null, r.gk ?? null]) } : receivers.map((r) => [r.x, r.url]));
}
