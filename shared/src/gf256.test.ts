import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createKernel, gfDiv, gfInv, gfMul, gfPow, kernelLabel, wasmRelaxedSimdAvailable, wasmSimdAvailable, writeNibbleTable } from './gf256.js';
import { invRef, mulRef } from '../test/reference.js';

describe('GF(2^8) mod 0x11b', () => {
  it('matches the bitwise reference on all 65,536 products', () => {
    let mismatches = 0;
    for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) if (gfMul(a, b) !== mulRef(a, b)) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('reproduces the FIPS-197 §4.2 examples', () => {
    expect(gfMul(0x57, 0x83)).toBe(0xc1);
    expect(gfMul(0x57, 0x13)).toBe(0xfe);
  });

  it('inverts every non-zero element and refuses 0', () => {
    for (let a = 1; a < 256; a++) {
      expect(gfInv(a)).toBe(invRef(a));
      expect(gfMul(a, gfInv(a))).toBe(1);
    }
    expect(() => gfInv(0)).toThrow(RangeError);
  });

  it('divides and raises to powers consistently', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 255 }), fc.integer({ min: 0, max: 600 }), (a, b, e) => {
        expect(gfMul(gfDiv(a, b), b)).toBe(a);
        let p = 1;
        for (let i = 0; i < e; i++) p = mulRef(p, a);
        expect(gfPow(a, e)).toBe(p);
      })
    );
  });

  it('builds split-nibble tables with c*v = lo[v&15] ^ hi[v>>4] for every c and v', () => {
    const t = new Uint8Array(32);
    for (let c = 0; c < 256; c++) {
      writeNibbleTable(t, 0, c);
      for (let v = 0; v < 256; v++) expect(t[v & 15]! ^ t[16 + (v >> 4)]!).toBe(mulRef(c, v));
    }
  });
});

describe('mulsum kernels', () => {
  it('has WebAssembly SIMD and (with the flag vitest passes) relaxed SIMD in this Node', () => {
    expect(wasmSimdAvailable()).toBe(true);
    expect(wasmRelaxedSimdAvailable()).toBe(true);
    expect(kernelLabel(createKernel())).toBe('wasm-simd (relaxed)');
    expect(kernelLabel(createKernel('auto', { relaxed: false }))).toBe('wasm-simd (simd)');
  });

  const kernels = () => [createKernel('wasm-simd', { relaxed: false }), createKernel('wasm-simd'), createKernel('js')];

  it('relaxed SIMD, plain SIMD and JS give the reference result for any rows, constants and lengths', () => {
    const all = kernels();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 40 }).map((v) => v * 16),
        fc.boolean(),
        fc.uint8Array({ minLength: 6, maxLength: 6 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (t, len, useSrc, consts, seed) => {
          // layout: tables | src | rows | dst
          const tables = 0;
          const src = 256;
          const base = src + len;
          const dst = base + t * len;
          const data = new Uint8Array(dst + len);
          let s = seed;
          for (let i = src; i < dst + len; i++) {
            s = (Math.imul(s, 1103515245) + 12345) >>> 0;
            data[i] = s >>> 24;
          }
          for (let i = 0; i < t; i++) writeNibbleTable(data, tables + 32 * i, consts[i]!);
          const expected = new Uint8Array(len);
          for (let p = 0; p < len; p++) {
            let acc = useSrc ? data[src + p]! : 0;
            for (let i = 0; i < t; i++) acc ^= mulRef(consts[i]!, data[base + i * len + p]!);
            expected[p] = acc;
          }
          for (const kernel of all) {
            kernel.ensure(data.length);
            kernel.bytes().set(data);
            kernel.mulsum(dst, src, useSrc, base, len, tables, t, len);
            expect(Buffer.from(kernel.bytes().subarray(dst, dst + len)).equals(Buffer.from(expected))).toBe(true);
          }
        }
      ),
      { numRuns: 200 }
    );
  });

  it('fused split gives each share as src ^ sum of row * constant, in every kernel', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 6 }).map((v) => v * 64),
        fc.uint8Array({ minLength: 24, maxLength: 24 }),
        (t, n, len, consts) => {
          const tables = 0;
          const scratch = 1024;
          const src = scratch + 128 * t;
          const coef = src + len;
          const dst = coef + t * len;
          const data = new Uint8Array(dst + n * len);
          for (let i = src; i < dst; i++) data[i] = (i * 131 + 7) & 0xff;
          for (let j = 0; j < n; j++) for (let i = 0; i < t; i++) writeNibbleTable(data, tables + 32 * (j * t + i), consts[j * t + i]!);
          const outputs = kernels().map((kernel) => {
            kernel.ensure(data.length);
            kernel.bytes().set(data);
            kernel.split(dst, len, src, coef, len, tables, t, n, len, scratch);
            return Buffer.from(kernel.bytes().subarray(dst, dst + n * len));
          });
          for (let j = 0; j < n; j++) {
            for (let p = 0; p < len; p++) {
              let acc = data[src + p]!;
              for (let i = 0; i < t; i++) acc ^= mulRef(consts[j * t + i]!, data[coef + i * len + p]!);
              for (const out of outputs) expect(out[j * len + p]).toBe(acc);
            }
          }
        }
      ),
      { numRuns: 100 }
    );
  });

  it('keeps the workspace contents when it grows', () => {
    for (const kernel of kernels()) {
      kernel.bytes()[10] = 77;
      kernel.ensure(5 * 65536 + 1);
      expect(kernel.bytes().length).toBeGreaterThanOrEqual(5 * 65536 + 1);
      expect(kernel.bytes()[10]).toBe(77);
    }
  });
});
