/**
 * Repair by relays (issue #16; docs/repair.md): rebuild the share at a new point x_new from k helper
 * shares without any party seeing more than it held.
 *
 * Helper j holds y_j = f(x_j) (per byte, f of degree k-1). Lagrange interpolation at x_new gives
 * f(x_new) = XOR_j lambda_j(x_new) * y_j in GF(2^8). Each pair of helpers (a, b) shares a pad p_ab; both
 * XOR it into what they send, so over all helpers the pads cancel (in GF(2^8) addition is XOR, so +p and
 * -p are the same operation). Helper j sends m_j = lambda_j(x_new) * y_j XOR (XOR_{l != j} p_jl) to the
 * receiving relay, which XORs the k messages into exactly f(x_new). Any k-1 of the m_j are uniformly
 * distributed to the receiver (each carries a pad shared with the missing helper), and a helper sees only
 * pads, which are independent of every share.
 *
 * Pads are expanded from a 32-byte seed per pair and per repair with AES-256-CTR (WebCrypto), the chunk
 * index in the counter block, so helpers exchange 32 bytes per pair instead of a chunk per pair and per
 * chunk. The transcript's secrecy against the receiver therefore rests on AES-256 as a PRG (stated in
 * docs/repair.md); what relays store stays information-theoretically secret as before.
 */
import { KofnError } from './errors.js';
import { createKernel, writeNibbleTable, type GfKernel } from './gf256.js';
import { mulConstant } from './renewal.js';
import { assertXs, lagrangeAt } from './shamir.js';

export const REPAIR_SEED_BYTES = 32;

/**
 * lambda_self(x_new) for the helpers at `xs`: the factor helper `self` multiplies its share by. Checks
 * the points: k distinct non-zero helper x, and x_new non-zero and not one of them.
 */
export function repairCoefficient(xs: readonly number[], self: number, xNew: number): number {
  assertXs(xs);
  if (!Number.isInteger(self) || self < 0 || self >= xs.length) throw new KofnError('INVALID_ARGUMENT', `"self" expected 0..${xs.length - 1}, got ${self}`);
  if (!Number.isInteger(xNew) || xNew < 1 || xNew > 255) throw new KofnError('INVALID_X', `"xNew" expected integer 1..255, got ${xNew}`);
  if (xs.includes(xNew)) throw new KofnError('DUPLICATE_X', 'The new share\u2019s x is one of the helpers\u2019.');
  return lagrangeAt(xs, xNew)[self]!;
}

/** Bytes the kernel XORs per call: its workspace holds two such rows behind one nibble table. */
const XOR_BLOCK = 64 * 1024;
/** Below this a word loop beats the copies into the kernel's workspace and back. */
const XOR_KERNEL_MIN = 4096;
/** Where the rows sit in the XOR kernel's workspace (the table of constant 1 is at 0). */
const XOR_ACC = 64;
const XOR_ADDEND = XOR_ACC + XOR_BLOCK;
let xorKernel: GfKernel | undefined;

/**
 * out ^= p over out's length (p at least as long). Large inputs go through the GF(2^8) kernel as a
 * multiply-accumulate by 1 (WASM SIMD: 16 bytes per instruction; a receiver adds k repair terms and a relay
 * sums k dealers' contributions per chunk, and the word loop ran at ~1 GB/s: #16 repair bench), small ones
 * and engines without SIMD through a 32-bit word loop.
 */
export function xorInto(out: Uint8Array, p: Uint8Array): void {
  if (out.length >= XOR_KERNEL_MIN && p.length >= out.length) {
    xorKernel ??= createKernel('auto');
    if (xorKernel.name === 'wasm-simd') {
      xorByKernel(xorKernel, out, p);
      return;
    }
  }
  xorWords(out, p);
}

function xorByKernel(kernel: GfKernel, out: Uint8Array, p: Uint8Array): void {
  kernel.ensure(XOR_ADDEND + XOR_BLOCK);
  const mem = kernel.bytes();
  writeNibbleTable(mem, 0, 1);
  for (let at = 0; at < out.length; at += XOR_BLOCK) {
    const n = Math.min(XOR_BLOCK, out.length - at);
    mem.set(out.subarray(at, at + n), XOR_ACC);
    mem.set(p.subarray(at, at + n), XOR_ADDEND);
    // The kernel works in 16-byte vectors: a last partial vector reads stale workspace bytes past n, and
    // only the first n bytes are copied back.
    kernel.mulsum(XOR_ACC, XOR_ACC, true, XOR_ADDEND, XOR_BLOCK, 0, 1, (n + 15) & ~15);
    out.set(mem.subarray(XOR_ACC, XOR_ACC + n), at);
  }
  // Shares and terms pass through here: nothing of them stays in the workspace.
  mem.fill(0, XOR_ACC, XOR_ADDEND + XOR_BLOCK);
}

/** out ^= p, 32 bits at a time where both are 4-byte aligned (the common case: fresh buffers), bytes after. */
function xorWords(out: Uint8Array, p: Uint8Array): void {
  let i = 0;
  if (out.byteOffset % 4 === 0 && p.byteOffset % 4 === 0) {
    const words = out.length >>> 2;
    const o32 = new Uint32Array(out.buffer, out.byteOffset, words);
    const p32 = new Uint32Array(p.buffer, p.byteOffset, words);
    for (let w = 0; w < words; w++) o32[w]! ^= p32[w]!;
    i = words << 2;
  }
  for (; i < out.length; i++) out[i]! ^= p[i]!;
}

/** A helper's message for one chunk: coefficient times its share body, XOR every pad it shares. */
export function maskedContribution(body: Uint8Array, coefficient: number, pads: readonly Uint8Array[]): Uint8Array {
  // The multiply runs on the GF(2^8) kernel (split-nibble tables in registers: no memory address depends
  // on a share byte), as renewal's does.
  const out = mulConstant(body, coefficient);
  for (const pad of pads) {
    if (pad.length !== out.length) throw new KofnError('SHARE_LENGTH_MISMATCH', 'A repair pad is not as long as the share body.');
    xorInto(out, pad);
  }
  return out;
}

/** The receiver's sum: the XOR of the k helpers' messages, which is its new share body. */
export function sumContributions(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 0) throw new KofnError('NOT_ENOUGH_SHARES', 'No repair contributions.');
  const out = new Uint8Array(parts[0]!.length);
  for (const p of parts) {
    if (p.length !== out.length) throw new KofnError('SHARE_LENGTH_MISMATCH', 'Repair contributions differ in length.');
    xorInto(out, p);
  }
  return out;
}

/**
 * The pad a pair of helpers shares for chunk `index`: AES-256-CTR keystream under the pair's seed, the
 * counter block = index (4 bytes, big-endian) || 12 zero bytes, so every chunk has its own keystream and
 * a chunk body (at most 2^32 blocks of 16 bytes) never wraps the counter's low 64 bits.
 */
export async function repairPad(seed: Uint8Array, index: number, length: number): Promise<Uint8Array> {
  if (seed.length !== REPAIR_SEED_BYTES) throw new KofnError('INVALID_ARGUMENT', `"seed" expected ${REPAIR_SEED_BYTES} bytes, got ${seed.length}`);
  if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) throw new KofnError('INVALID_ARGUMENT', `"index" expected a chunk index, got ${index}`);
  const key = await globalThis.crypto.subtle.importKey('raw', new Uint8Array(seed), 'AES-CTR', false, ['encrypt']);
  const counter = new Uint8Array(16);
  new DataView(counter.buffer).setUint32(0, index);
  const stream = await globalThis.crypto.subtle.encrypt({ name: 'AES-CTR', counter, length: 64 }, key, new Uint8Array(length));
  return new Uint8Array(stream);
}
