/**
 * Shamir's Secret Sharing over GF(2^8) (Shamir, "How to share a secret", CACM 1979), byte-wise.
 *
 * For every byte position a fresh polynomial f(z) = s + a_1 z + ... + a_{k-1} z^{k-1} is drawn with
 * coefficients uniform over all 256 values (zero allowed: forbidding zero would bias shares and leak,
 * cf. the 2021 advisory on HashiCorp Vault's shamir package). Share j is f(x_j) for a distinct non-zero
 * x_j; x = 0 would be the secret itself. Any k shares give s = sum_j y_j * prod_{m != j} x_m / (x_m - x_j)
 * (Lagrange at 0; subtraction is XOR in characteristic 2).
 *
 * `ShamirEngine` keeps one workspace per kernel and reuses it across calls, so streaming many chunks
 * allocates nothing but the outputs. Randomness comes from ./random.ts only.
 */
import { KofnError } from './errors.js';
import { createKernel, gfDiv, gfMul, gfPow, writeNibbleTable, type GfKernel, type KernelChoice } from './gf256.js';
import { randomFill } from './random.js';

export interface Share {
  x: number;
  y: Uint8Array;
}

export const MAX_SHARES = 255;

const pad16 = (n: number): number => (n + 15) & ~15;
const pad64 = (n: number): number => (n + 63) & ~63;

/** Split works through the secret in blocks of this many bytes (one getRandomValues call per row). */
export const SPLIT_BLOCK = 65_536;

// ---- validation at the public boundary ----

export function assertThreshold(k: unknown): asserts k is number {
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 2 || k > MAX_SHARES) {
    throw new KofnError('INVALID_THRESHOLD', `"threshold" expected integer 2..255, got ${String(k)}`);
  }
}

export function assertXs(xs: ArrayLike<unknown>): void {
  // The public edge: JavaScript callers may pass anything, whatever the type says (STYLE.md, inputs checked once).
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
  if (xs === null || typeof xs !== 'object' || typeof xs.length !== 'number') {
    throw new KofnError('INVALID_ARGUMENT', '"xs" expected an array of x-coordinates');
  }
  if (xs.length > MAX_SHARES) throw new KofnError('INVALID_SHARE_COUNT', `"shares" expected at most 255, got ${xs.length}`);
  const seen = new Uint8Array(256);
  // eslint-disable-next-line @typescript-eslint/prefer-for-of -- an ArrayLike (e.g. a typed array view or arguments) need not be iterable
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > 255) {
      throw new KofnError('INVALID_X', `"x" expected integer 1..255, got ${String(x)}`);
    }
    if (seen[x]) throw new KofnError('DUPLICATE_X', `"x" must be distinct, got ${x} twice`);
    seen[x] = 1;
  }
}

function assertBytes(v: unknown, name: string): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new KofnError('INVALID_ARGUMENT', `"${name}" expected Uint8Array`);
}

/**
 * Lagrange basis values at the public point `at` for the public x-coordinates `xs`:
 * l_j(at) = prod_{m != j} (at - x_m) / (x_j - x_m). At 0 they rebuild the secret; at another share's x
 * they predict that share, which is how a corrupted share is named.
 */
export function lagrangeAt(xs: ArrayLike<number>, at: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < xs.length; j++) {
    let num = 1;
    let den = 1;
    for (let m = 0; m < xs.length; m++) {
      if (m === j) continue;
      num = gfMul(num, at ^ xs[m]!);
      den = gfMul(den, xs[j]! ^ xs[m]!);
    }
    out.push(gfDiv(num, den));
  }
  return out;
}

export function lagrangeAtZero(xs: ArrayLike<number>): number[] {
  return lagrangeAt(xs, 0);
}

export class ShamirEngine {
  readonly kernel: GfKernel;

  constructor(kernel: GfKernel | KernelChoice = 'auto') {
    this.kernel = typeof kernel === 'string' ? createKernel(kernel) : kernel;
  }

  /** Validated split: share i is the evaluation at xs[i]. */
  split(secret: Uint8Array, k: number, xs: ArrayLike<number>): Uint8Array[] {
    assertBytes(secret, 'secret');
    assertThreshold(k);
    assertXs(xs);
    if (k > xs.length) throw new KofnError('INVALID_THRESHOLD', 'The threshold is greater than the number of servers.');
    // n separate uninitialised allocations: splitInto writes every byte of [0, len) of every output
    // before returning, and on a throw the outputs are dropped unread, so no stale memory can escape.
    // Not one n*len allocation carved into views: above glibc's 32 MiB mmap ceiling every call then maps
    // fresh pages (measured 0.55x the CPU throughput of n allocations at 16 MiB, (3,5)).
    const outs = Array.from({ length: xs.length }, () => allocUninitialised(secret.length));
    this.splitInto(secret, k, xs, outs, 0);
    return outs;
  }

  /**
   * Unvalidated fast path for the streaming pipeline: writes share j of `secret` into outs[j] at `offset`.
   * Callers have validated k and xs once per stream.
   */
  splitInto(secret: Uint8Array, k: number, xs: ArrayLike<number>, outs: Uint8Array[], offset: number): void {
    const n = xs.length;
    const len = secret.length;
    const block = Math.min(pad64(len), SPLIT_BLOCK);
    const terms = k - 1;
    const tables = 0;
    const scratch = pad16(n * terms * 32);
    const s = scratch + 128 * terms;
    const c = s + block;
    const o = c + terms * block;
    this.kernel.ensure(o + n * block);
    let mem = this.kernel.bytes();
    for (let j = 0; j < n; j++) {
      for (let i = 1; i <= terms; i++) writeNibbleTable(mem, tables + (j * terms + i - 1) * 32, gfPow(xs[j]!, i));
    }
    // Block by block, so the coefficients just drawn and the shares just made are still in cache when the
    // kernel reads them and when they are copied out (measured: 1 MiB in 64 KiB blocks runs at the speed
    // of 64 KiB chunks, about 10% faster than one 1 MiB pass).
    for (let at = 0; at < len; at += block) {
      const m = Math.min(block, len - at);
      mem.set(secret.subarray(at, at + m), s);
      // Row i-1 holds the degree-i coefficient of each byte of the block: fresh and uniform, one draw of
      // m bytes per row, in row order (the layout test/vectors/README.md documents).
      for (let i = 0; i < terms; i++) randomFill(mem.subarray(c + i * block, c + i * block + m));
      this.kernel.split(o, block, s, c, block, tables, terms, n, pad64(m), scratch);
      mem = this.kernel.bytes();
      for (let j = 0; j < n; j++) outs[j]!.set(mem.subarray(o + j * block, o + j * block + m), offset + at);
    }
  }

  /** Validated combine of k (or more) shares: Lagrange interpolation at 0. */
  combine(shares: readonly Share[]): Uint8Array {
    // Checked as unknown: Array.isArray narrows a readonly array to any[]; the check is for JavaScript callers.
    const input: unknown = shares;
    if (!Array.isArray(input)) throw new KofnError('INVALID_ARGUMENT', '"shares" expected an array');
    if (shares.length < 2) throw new KofnError('NOT_ENOUGH_SHARES', `"shares" expected at least 2, got ${shares.length}`);
    const xs = shares.map((sh) => (sh as Share | null)?.x);
    assertXs(xs);
    const first: Partial<Share> | undefined = shares[0]; // y may be missing when called from JavaScript
    const len = first?.y?.length;
    for (const sh of shares) {
      assertBytes(sh.y, 'y');
      if (sh.y.length !== len) throw new KofnError('SHARE_LENGTH_MISMATCH', 'Shares have different lengths.');
    }
    // Uninitialised is safe: combineInto writes every byte of `out` (see allocUninitialised).
    const out = allocUninitialised(len ?? 0);
    this.combineInto(
      shares.map((sh) => sh.y),
      shares.map((sh) => sh.x),
      out,
      0
    );
    return out;
  }

  /** Unvalidated fast path: combines equal-length `ys` at `xs` into `out` at `offset`. */
  combineInto(ys: readonly Uint8Array[], xs: ArrayLike<number>, out: Uint8Array, offset: number): void {
    this.interpolateInto(ys, xs, 0, out, offset);
  }

  /**
   * Evaluates the polynomial through (xs, ys) at the public point `at`, byte-wise, into `out`. Works in
   * blocks of SPLIT_BLOCK bytes, like split, so the workspace stays small and in cache whatever the input
   * size (a 16 MiB combine of k = 3 used to grow the workspace to 64 MiB and stream it twice).
   */
  interpolateInto(ys: readonly Uint8Array[], xs: ArrayLike<number>, at: number, out: Uint8Array, offset: number): void {
    const k = ys.length;
    const len = ys[0]!.length;
    const block = Math.min(pad16(len), SPLIT_BLOCK);
    const tables = 0;
    const b = pad16(k * 32);
    const o = b + k * block;
    this.kernel.ensure(o + block);
    let mem = this.kernel.bytes();
    const lambdas = lagrangeAt(xs, at);
    for (let j = 0; j < k; j++) writeNibbleTable(mem, tables + j * 32, lambdas[j]!);
    for (let p = 0; p < len; p += block) {
      const m = Math.min(block, len - p);
      for (let j = 0; j < k; j++) mem.set(ys[j]!.subarray(p, p + m), b + j * block);
      this.kernel.mulsum(o, 0, false, b, block, tables, k, pad16(m));
      mem = this.kernel.bytes();
      out.set(mem.subarray(o, o + m), offset + p);
    }
  }

  /** Zeroes the workspace (plaintext and coefficients of the last call). */
  wipe(): void {
    this.kernel.bytes().fill(0);
  }
}

/**
 * A byte array whose contents are unspecified, for outputs the caller then overwrites completely. In Node,
 * Buffer.allocUnsafeSlow takes memory from malloc without zeroing it (new Uint8Array zero-fills: an extra
 * write pass over memory the split then writes again; measured 1.2x the CPU throughput of split() at
 * 16 MiB, (3,5)); "Slow" because it gets its own ArrayBuffer, never a slice of Node's shared pool, so the
 * result can be transferred to a worker and holds nothing else. Browsers have no such call: zeroed memory.
 * Returned as a plain Uint8Array view so callers never see a Buffer's different methods.
 */
function allocUninitialised(length: number): Uint8Array {
  const B = (globalThis as { Buffer?: { allocUnsafeSlow(size: number): Uint8Array } }).Buffer;
  if (B === undefined || length === 0) return new Uint8Array(length);
  const buf = B.allocUnsafeSlow(length);
  return new Uint8Array(buf.buffer, buf.byteOffset, length);
}

let defaultEngine: ShamirEngine | undefined;

function engine(): ShamirEngine {
  defaultEngine ??= new ShamirEngine();
  return defaultEngine;
}

/** Splits `secret` into xs.length shares, any k of which rebuild it; share i is the evaluation at xs[i]. */
export function split(secret: Uint8Array, k: number, xs: ArrayLike<number>): Uint8Array[] {
  return engine().split(secret, k, xs);
}

/** Rebuilds a secret from at least k shares of it. */
export function combine(shares: Array<{ x: number; y: Uint8Array }>): Uint8Array {
  return engine().combine(shares);
}
