/**
 * The field GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1 (0x11b), and the bulk kernel that
 * Shamir split and combine run on: `mulsum`, a multiply-by-constant-and-XOR over byte rows.
 *
 * Scalar operations (`gfMul`, `gfInv`, `gfDiv`) use log/exp tables and are meant for PUBLIC operands
 * only: x-coordinates and Lagrange coefficients. Secret bytes only ever go through `mulsum`, whose WASM
 * SIMD kernel looks nibbles up inside registers (i8x16.swizzle), so no memory address depends on them.
 */
import { GF256_WASM_BASE64, GF256_WASM_RELAXED_BASE64 } from './generated/gf256-wasm.js';

export const GF256_POLY = 0x11b;

const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  // 0x03 generates the multiplicative group of GF(2^8) mod 0x11b (FIPS 197 §4.2 uses the same field).
  let v = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = v;
    EXP[i + 255] = v;
    LOG[v] = i;
    v ^= (v << 1) ^ (v & 0x80 ? GF256_POLY : 0);
    v &= 0xff;
  }
}

/** a*b for public operands (table lookups). */
export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[LOG[a]! + LOG[b]!]!;
}

/** Multiplicative inverse of a non-zero public operand. */
export function gfInv(a: number): number {
  if (a === 0) throw new RangeError('0 has no inverse in GF(256)');
  return EXP[255 - LOG[a]!]!;
}

export function gfDiv(a: number, b: number): number {
  return gfMul(a, gfInv(b));
}

/** c^e for a public c. */
export function gfPow(c: number, e: number): number {
  if (e === 0) return 1;
  if (c === 0) return 0;
  return EXP[(LOG[c]! * e) % 255]!;
}

/**
 * The 32-byte split-nibble table of a constant c: bytes 0..15 hold c*j, bytes 16..31 hold c*(j<<4),
 * so that c*v = lo[v & 15] ^ hi[v >> 4].
 */
export function writeNibbleTable(out: Uint8Array, offset: number, c: number): void {
  for (let j = 0; j < 16; j++) {
    out[offset + j] = gfMul(c, j);
    out[offset + 16 + j] = gfMul(c, j << 4);
  }
}

/**
 * A bulk kernel working on one linear workspace (WASM memory, or a plain buffer for the JS fallback).
 * All arguments of `mulsum` are byte offsets in that workspace; see src/wasm/gf256.wat for the contract.
 */
export interface GfKernel {
  readonly name: 'wasm-simd' | 'js';
  /** The workspace; a new view after every `ensure` that grows it. */
  bytes(): Uint8Array<ArrayBuffer>;
  /** Makes the workspace at least `size` bytes long (contents kept). */
  ensure(size: number): void;
  mulsum(dst: number, src: number, useSrc: boolean, base: number, stride: number, tables: number, t: number, len: number): void;
  /**
   * Fused Shamir split: share j (at dst + j*dstStride) = src ^ XOR_{i<t} coef row i times constant (j, i),
   * whose table is at tables + 32*(j*t + i). `scratch` holds 128*t bytes; len is a multiple of 64.
   */
  split(dst: number, dstStride: number, src: number, coef: number, coefStride: number, tables: number, t: number, n: number, len: number, scratch: number): void;
}

const WASM_PAGE = 65536;

function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const modules = new Map<'relaxed' | 'simd', WebAssembly.Module | null>();

/**
 * The compiled module of a build, or null where the engine cannot run it (no SIMD; relaxed SIMD is in
 * Chromium since 114, behind --experimental-wasm-relaxed-simd in Node 20).
 */
function wasmModule(build: 'relaxed' | 'simd'): WebAssembly.Module | null {
  let mod = modules.get(build);
  if (mod !== undefined) return mod;
  const bytes = decodeBase64(build === 'relaxed' ? GF256_WASM_RELAXED_BASE64 : GF256_WASM_BASE64);
  // The module is under 4 KiB, so synchronous compilation is allowed even on a browser's main thread.
  mod = typeof WebAssembly === 'object' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  modules.set(build, mod);
  return mod;
}

export function wasmSimdAvailable(): boolean {
  return wasmModule('simd') !== null;
}

export function wasmRelaxedSimdAvailable(): boolean {
  return wasmModule('relaxed') !== null;
}

class WasmKernel implements GfKernel {
  readonly name = 'wasm-simd' as const;
  readonly build: 'relaxed' | 'simd';
  readonly #memory: WebAssembly.Memory;
  readonly #mulsum: (...args: number[]) => void;
  readonly #split: (...args: number[]) => void;
  #view: Uint8Array<ArrayBuffer>;

  constructor(mod: WebAssembly.Module, build: 'relaxed' | 'simd') {
    this.build = build;
    const instance = new WebAssembly.Instance(mod, {});
    this.#memory = instance.exports.memory as WebAssembly.Memory;
    this.#mulsum = instance.exports.mulsum as (...args: number[]) => void;
    this.#split = instance.exports.split as (...args: number[]) => void;
    this.#view = new Uint8Array(this.#memory.buffer);
  }

  bytes(): Uint8Array<ArrayBuffer> {
    if (this.#view.buffer !== this.#memory.buffer) this.#view = new Uint8Array(this.#memory.buffer);
    return this.#view;
  }

  ensure(size: number): void {
    const have = this.#memory.buffer.byteLength;
    if (size > have) this.#memory.grow(Math.ceil((size - have) / WASM_PAGE));
  }

  mulsum(dst: number, src: number, useSrc: boolean, base: number, stride: number, tables: number, t: number, len: number): void {
    this.#mulsum(dst, src, useSrc ? 1 : 0, base, stride, tables, t, len);
  }

  split(dst: number, dstStride: number, src: number, coef: number, coefStride: number, tables: number, t: number, n: number, len: number, scratch: number): void {
    this.#split(dst, dstStride, src, coef, coefStride, tables, t, n, len, scratch);
  }
}

/**
 * Plain JS fallback for engines without WASM SIMD. Same split-nibble tables as the SIMD kernel, so the
 * output is identical; the lookups are indexed by data, but each table is 16 bytes (one cache line),
 * which avoids the cache-line leaks of full 256-entry product tables. JIT code cannot promise constant
 * time; see README "Timing".
 */
class JsKernel implements GfKernel {
  readonly name = 'js' as const;
  #buf = new Uint8Array(WASM_PAGE);

  bytes(): Uint8Array<ArrayBuffer> {
    return this.#buf;
  }

  ensure(size: number): void {
    if (size <= this.#buf.length) return;
    const next = new Uint8Array(Math.ceil(size / WASM_PAGE) * WASM_PAGE);
    next.set(this.#buf);
    this.#buf = next;
  }

  mulsum(dst: number, src: number, useSrc: boolean, base: number, stride: number, tables: number, t: number, len: number): void {
    const m = this.#buf;
    if (useSrc) {
      if (dst !== src) m.copyWithin(dst, src, src + len);
    } else {
      m.fill(0, dst, dst + len);
    }
    for (let i = 0; i < t; i++) {
      // A private copy of the 32-byte table keeps V8 on its fast typed-array path (a subarray of the
      // workspace was 4x slower in measurement).
      const tab = m.slice(tables + 32 * i, tables + 32 * i + 32);
      mulXorRow(m, dst, base + i * stride, len, tab);
    }
  }

  split(dst: number, dstStride: number, src: number, coef: number, coefStride: number, tables: number, t: number, n: number, len: number): void {
    jsSplit(this.#buf, dst, dstStride, src, coef, coefStride, tables, t, n, len);
  }
}

/**
 * JS fused split: one pass per share writing each output byte once (measured 1.3x faster in V8 than a
 * copy followed by one multiply-XOR pass per term); the common thresholds k = 2 and k = 3 get loops with
 * their tables in locals.
 */
function jsSplit(m: Uint8Array, dst: number, dstStride: number, src: number, coef: number, coefStride: number, tables: number, t: number, n: number, len: number): void {
  for (let j = 0; j < n; j++) {
    const d = dst + j * dstStride;
    const tabs = Array.from({ length: t }, (_, i) => m.slice(tables + 32 * (j * t + i), tables + 32 * (j * t + i) + 32));
    if (t === 1) {
      const t0 = tabs[0]!;
      for (let p = 0; p < len; p++) {
        const v0 = m[coef + p]!;
        m[d + p] = m[src + p]! ^ t0[v0 & 15]! ^ t0[16 + (v0 >>> 4)]!;
      }
    } else if (t === 2) {
      const t0 = tabs[0]!;
      const t1 = tabs[1]!;
      const r1 = coef + coefStride;
      for (let p = 0; p < len; p++) {
        const v0 = m[coef + p]!;
        const v1 = m[r1 + p]!;
        m[d + p] = m[src + p]! ^ t0[v0 & 15]! ^ t0[16 + (v0 >>> 4)]! ^ t1[v1 & 15]! ^ t1[16 + (v1 >>> 4)]!;
      }
    } else {
      m.copyWithin(d, src, src + len);
      for (let i = 0; i < t; i++) mulXorRow(m, d, coef + i * coefStride, len, tabs[i]!);
    }
  }
}

function mulXorRow(m: Uint8Array, dst: number, row: number, len: number, tab: Uint8Array): void {
  for (let p = 0; p < len; p++) {
    const v = m[row + p]!;
    m[dst + p] = m[dst + p]! ^ tab[v & 15]! ^ tab[16 + (v >>> 4)]!;
  }
}

export type KernelChoice = 'auto' | 'wasm-simd' | 'js';

export interface KernelOptions {
  /** Use the relaxed-SIMD build where the engine has it (default true); false forces plain SIMD. */
  relaxed?: boolean;
}

/** A fresh kernel with its own workspace (one per worker or stream). */
export function createKernel(choice: KernelChoice = 'auto', options: KernelOptions = {}): GfKernel {
  if (choice === 'js') return new JsKernel();
  const relaxed = options.relaxed !== false ? wasmModule('relaxed') : null;
  if (relaxed) return new WasmKernel(relaxed, 'relaxed');
  const plain = wasmModule('simd');
  if (plain) return new WasmKernel(plain, 'simd');
  if (choice === 'wasm-simd') throw new Error('WebAssembly SIMD is not available in this engine');
  return new JsKernel();
}

/** A short description of a kernel for benchmarks and logs: "wasm-simd (relaxed)", "js". */
export function kernelLabel(kernel: GfKernel): string {
  return kernel instanceof WasmKernel ? `wasm-simd (${kernel.build})` : kernel.name;
}
