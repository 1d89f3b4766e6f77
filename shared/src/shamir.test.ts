import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ShamirEngine, combine, lagrangeAt, split } from './shamir.js';
import { createKernel } from './gf256.js';
import { seededSource, useRandomSource } from './testing.js';
import { combineRef, splitRef } from '../test/reference.js';

const eq = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? 'NO_CODE';
  }
  return undefined;
}

/** k, n (k <= n <= 20), distinct non-zero xs, and a k-subset (as a permutation prefix). */
const params = fc.integer({ min: 2, max: 20 }).chain((n) =>
  fc.tuple(
    fc.integer({ min: 2, max: n }),
    fc.uniqueArray(fc.integer({ min: 1, max: 255 }), { minLength: n, maxLength: n }),
    fc.shuffledSubarray(
      Array.from({ length: n }, (_, i) => i),
      { minLength: n, maxLength: n }
    )
  )
);

describe('split / combine round trips', () => {
  it('any k of n shares rebuild any secret (small lengths)', () => {
    fc.assert(
      fc.property(params, fc.uint8Array({ minLength: 0, maxLength: 300 }), ([k, xs, order], secret) => {
        const shares = split(secret, k, xs);
        expect(shares).toHaveLength(xs.length);
        const chosen = order.slice(0, k).map((i) => ({ x: xs[i]!, y: shares[i]! }));
        expect(eq(combine(chosen), secret)).toBe(true);
      }),
      { numRuns: 300 }
    );
  });

  it('any k of n shares rebuild large secrets up to 2 MiB + odd lengths', () => {
    const lengths = fc.oneof(fc.constant(2 * 1024 * 1024 + 7), fc.integer({ min: 65_000, max: 2 * 1024 * 1024 + 33 }));
    fc.assert(
      fc.property(params, lengths, fc.integer(), ([k, xs, order], len, seed) => {
        const secret = new Uint8Array(len);
        seededSource(seed).fill(secret);
        const shares = split(secret, k, xs);
        const chosen = order.slice(0, k).map((i) => ({ x: xs[i]!, y: shares[i]! }));
        expect(eq(combine(chosen), secret)).toBe(true);
      }),
      { numRuns: 8 }
    );
  });

  it('more than k shares also rebuild the secret', () => {
    const secret = new TextEncoder().encode('more shares than needed');
    const shares = split(secret, 3, [1, 2, 3, 4, 5]);
    expect(eq(combine(shares.map((y, i) => ({ x: i + 1, y }))), secret)).toBe(true);
  });

  it('k-1 shares do not rebuild the secret', () => {
    const secret = new Uint8Array(64).fill(0x42);
    const shares = split(secret, 3, [1, 2, 3]);
    expect(
      eq(
        combine([
          { x: 1, y: shares[0]! },
          { x: 2, y: shares[1]! }
        ]),
        secret
      )
    ).toBe(false);
  });
});

describe('kernels agree with the reference for identical randomness', () => {
  it('relaxed SIMD, plain SIMD, JS and the bitwise reference give identical shares', () => {
    fc.assert(
      fc.property(params, fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.integer(), ([k, xs], secret, seed) => {
        const source = seededSource(seed);
        const expected = splitRef(secret, k, xs, (len) => {
          const row = new Uint8Array(len);
          source.fill(row);
          return row;
        });
        for (const kernel of [createKernel('wasm-simd'), createKernel('wasm-simd', { relaxed: false }), createKernel('js')]) {
          const undo = useRandomSource(seededSource(seed));
          try {
            const got = new ShamirEngine(kernel).split(secret, k, xs);
            got.forEach((y, j) => expect(eq(y, expected[j]!)).toBe(true));
          } finally {
            undo();
          }
        }
        const shares = expected.slice(0, k).map((y, j) => ({ x: xs[j]!, y }));
        expect(eq(new ShamirEngine('js').combine(shares), combineRef(shares))).toBe(true);
      }),
      { numRuns: 100 }
    );
  });
});

describe('multi-block split (secrets over 64 KiB) matches the reference', () => {
  it('for a 2-block + odd secret with (3,5)', () => {
    const secret = new Uint8Array(2 * 65_536 + 101);
    seededSource(5).fill(secret);
    const xs = [9, 1, 77, 200, 3];
    const source = seededSource(6);
    const expected = splitRef(secret, 3, xs, (len) => {
      const row = new Uint8Array(len);
      source.fill(row);
      return row;
    });
    for (const kernel of [createKernel('wasm-simd'), createKernel('wasm-simd', { relaxed: false }), createKernel('js')]) {
      const undo = useRandomSource(seededSource(6));
      try {
        new ShamirEngine(kernel).split(secret, 3, xs).forEach((y, j) => expect(eq(y, expected[j]!)).toBe(true));
      } finally {
        undo();
      }
    }
  });
});

describe('multi-block combine and interpolation (shares over 64 KiB) match the reference', () => {
  it("for a 2-block + odd secret with (3,5), every kernel, any 3 shares, at 0 and at another share's x", () => {
    const secret = new Uint8Array(2 * 65_536 + 101);
    seededSource(7).fill(secret);
    const xs = [9, 1, 77, 200, 3];
    const shares = split(secret, 3, xs);
    for (const kernel of [createKernel('wasm-simd'), createKernel('wasm-simd', { relaxed: false }), createKernel('js')]) {
      const engine = new ShamirEngine(kernel);
      const picked = [4, 0, 2].map((j) => ({ x: xs[j]!, y: shares[j]! }));
      expect(eq(engine.combine(picked), secret)).toBe(true);
      expect(eq(combineRef(picked), secret)).toBe(true);
      // Three shares define the polynomial, so evaluating at x = 1 must give share 1 byte for byte.
      const predicted = new Uint8Array(secret.length + 3);
      engine.interpolateInto(
        picked.map((p) => p.y),
        picked.map((p) => p.x),
        1,
        predicted,
        3
      );
      expect(eq(predicted.subarray(3), shares[1]!)).toBe(true);
    }
  });
});

describe('allocate-and-return outputs', () => {
  it('are plain Uint8Arrays, each alone in its own ArrayBuffer (transferable, nothing else inside)', () => {
    const secret = new Uint8Array(70_001).fill(0xa5);
    const shares = split(secret, 2, [1, 2, 3]);
    const buffers = new Set<ArrayBufferLike>();
    for (const y of shares) {
      expect(Object.getPrototypeOf(y)).toBe(Uint8Array.prototype);
      expect(y.byteOffset).toBe(0);
      expect(y.buffer.byteLength).toBe(secret.length);
      buffers.add(y.buffer);
    }
    expect(buffers.size).toBe(3);
    const back = combine([
      { x: 3, y: shares[2]! },
      { x: 1, y: shares[0]! }
    ]);
    expect(Object.getPrototypeOf(back)).toBe(Uint8Array.prototype);
    expect(back.buffer.byteLength).toBe(secret.length);
    expect(eq(back, secret)).toBe(true);
  });

  it('hold no stale memory: with a source of all-zero coefficients every share equals the secret', () => {
    // Churn the allocator so that uninitialised memory is likely to hold earlier bytes.
    for (let i = 0; i < 8; i++) split(new Uint8Array(300_000).fill(0xff), 3, [1, 2, 3]);
    const undo = useRandomSource({ fill: (out) => out.fill(0) });
    try {
      const secret = new Uint8Array(300_001);
      seededSource(8).fill(secret);
      for (const y of split(secret, 3, [5, 6, 7, 8])) expect(eq(y, secret)).toBe(true);
    } finally {
      undo();
    }
  });
});

describe('coefficients are uniform and fresh', () => {
  // Chi-square with 255 degrees of freedom; 380 is the critical value for p = 1e-6 (Wilson–Hilferty),
  // so a correct implementation fails this test about once in a million runs per check.
  const CRITICAL = 380;
  const chi2 = (counts: Uint32Array, total: number): number => {
    const e = total / counts.length;
    let s = 0;
    for (const c of counts) s += ((c - e) * (c - e)) / e;
    return s;
  };

  it('each share of a constant secret is uniform, and so is every pair (k = 3)', () => {
    const len = 1 << 20;
    const secret = new Uint8Array(len).fill(0x42);
    const xs = [1, 2, 3, 200, 255];
    const shares = split(secret, 3, xs);
    for (const y of shares) {
      const counts = new Uint32Array(256);
      for (const b of y) counts[b]!++;
      expect(chi2(counts, len)).toBeLessThan(CRITICAL);
    }
    // Any k-1 = 2 shares: joint distribution, binned by high nibbles (256 bins).
    for (let a = 0; a < xs.length; a++) {
      for (let b = a + 1; b < xs.length; b++) {
        const counts = new Uint32Array(256);
        const ya = shares[a]!;
        const yb = shares[b]!;
        for (let p = 0; p < len; p++) counts[((ya[p]! >> 4) << 4) | (yb[p]! >> 4)]!++;
        expect(chi2(counts, len)).toBeLessThan(CRITICAL);
      }
    }
  });

  it('zero coefficients occur (forcing non-zero would bias shares)', () => {
    const secret = new Uint8Array(4096);
    const shares = split(secret, 2, [1, 2]);
    // With secret 0 and k = 2, share y = a1 * x: y = 0 exactly when a1 = 0, expected 16 times in 4096.
    expect(shares[0]!.some((b) => b === 0)).toBe(true);
  });

  it('splitting the same secret twice gives different shares', () => {
    const secret = new Uint8Array(32);
    expect(eq(split(secret, 2, [1, 2])[0]!, split(secret, 2, [1, 2])[0]!)).toBe(false);
  });
});

describe('input validation with stable codes', () => {
  const s = new Uint8Array(4);
  it.each([
    ['k < 2', () => split(s, 1, [1, 2]), 'INVALID_THRESHOLD'],
    ['k not integer', () => split(s, 2.5, [1, 2, 3]), 'INVALID_THRESHOLD'],
    ['k > n', () => split(s, 4, [1, 2, 3]), 'INVALID_THRESHOLD'],
    [
      'k > 255',
      () =>
        split(
          s,
          256,
          Array.from({ length: 255 }, (_, i) => i + 1)
        ),
      'INVALID_THRESHOLD'
    ],
    [
      'n > 255',
      () =>
        split(
          s,
          2,
          Array.from({ length: 256 }, (_, i) => (i % 255) + 1)
        ),
      'INVALID_SHARE_COUNT'
    ],
    ['x = 0', () => split(s, 2, [0, 1]), 'INVALID_X'],
    ['x = 256', () => split(s, 2, [1, 256]), 'INVALID_X'],
    ['x = 1.5', () => split(s, 2, [1, 1.5]), 'INVALID_X'],
    ['x = -1', () => split(s, 2, [1, -1]), 'INVALID_X'],
    ['x as string', () => split(s, 2, [1, '2' as unknown as number]), 'INVALID_X'],
    ['duplicate x', () => split(s, 2, [7, 7]), 'DUPLICATE_X'],
    ['secret not bytes', () => split([1, 2] as unknown as Uint8Array, 2, [1, 2]), 'INVALID_ARGUMENT'],
    ['combine one share', () => combine([{ x: 1, y: s }]), 'NOT_ENOUGH_SHARES'],
    [
      'combine x = 0 (forged share)',
      () =>
        combine([
          { x: 0, y: s },
          { x: 1, y: s }
        ]),
      'INVALID_X'
    ],
    [
      'combine duplicate x',
      () =>
        combine([
          { x: 3, y: s },
          { x: 3, y: s }
        ]),
      'DUPLICATE_X'
    ],
    [
      'combine unequal lengths',
      () =>
        combine([
          { x: 1, y: s },
          { x: 2, y: new Uint8Array(5) }
        ]),
      'SHARE_LENGTH_MISMATCH'
    ],
    [
      'combine non-byte x',
      () =>
        combine([
          { x: 1, y: s },
          { x: 300, y: s }
        ]),
      'INVALID_X'
    ],
    // Edges and shapes found by Stryker's first run (survivors), each with its code:
    ['xs null', () => split(s, 2, null as unknown as number[]), 'INVALID_ARGUMENT'],
    ['xs a number', () => split(s, 2, 5 as unknown as number[]), 'INVALID_ARGUMENT'],
    ['xs an object without length', () => split(s, 2, {} as unknown as number[]), 'INVALID_ARGUMENT'],
    ['xs a string', () => split(s, 2, '12' as unknown as number[]), 'INVALID_ARGUMENT'],
    ['combine a non-array', () => combine({ length: 2 } as unknown as Array<{ x: number; y: Uint8Array }>), 'INVALID_ARGUMENT'],
    ['combine a share without y', () => combine([{ x: 1 } as unknown as { x: number; y: Uint8Array }, { x: 2, y: s }]), 'INVALID_ARGUMENT']
  ])('%s', (_name, fn, code) => {
    expect(codeOf(fn)).toBe(code);
  });

  it('accepts the largest threshold and share count: k = n = 255', () => {
    const xs = Array.from({ length: 255 }, (_, i) => i + 1);
    const shares = split(s, 255, xs);
    expect(shares).toHaveLength(255);
    expect(Array.from(combine(shares.map((y, i) => ({ x: xs[i]!, y }))))).toEqual(Array.from(s));
  });

  it('words messages uniformly', () => {
    expect(() => split(s, 1, [1, 2])).toThrow('"threshold" expected integer 2..255, got 1');
    expect(() => split(s, 4, [1, 2, 3])).toThrow('The threshold is greater than the number of servers.');
  });

  // Second Stryker run (issue #24): every refusal's words, exactly, since they reach people unchanged.
  it('words every refusal exactly, naming the value that was refused', () => {
    const refusal = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        const e = err as { code?: string; message?: string };
        return `${e.code}: ${e.message}`;
      }
      return 'ok';
    };
    const xs255 = Array.from({ length: 256 }, (_, i) => (i % 255) + 1);
    const y = new Uint8Array(4);
    expect(refusal(() => split(s, 256, xs255.slice(0, 255)))).toBe('INVALID_THRESHOLD: "threshold" expected integer 2..255, got 256');
    expect(refusal(() => split(s, 2, null as unknown as number[]))).toBe('INVALID_ARGUMENT: "xs" expected an array of x-coordinates');
    expect(refusal(() => split(s, 2, xs255))).toBe('INVALID_SHARE_COUNT: "shares" expected at most 255, got 256');
    expect(refusal(() => split(s, 2, [1, 0]))).toBe('INVALID_X: "x" expected integer 1..255, got 0');
    expect(refusal(() => split(s, 2, [9, 9]))).toBe('DUPLICATE_X: "x" must be distinct, got 9 twice');
    expect(refusal(() => split('ab' as unknown as Uint8Array, 2, [1, 2]))).toBe('INVALID_ARGUMENT: "secret" expected Uint8Array');
    expect(refusal(() => combine('ab' as unknown as []))).toBe('INVALID_ARGUMENT: "shares" expected an array');
    expect(refusal(() => combine([{ x: 1, y }]))).toBe('NOT_ENOUGH_SHARES: "shares" expected at least 2, got 1');
    expect(
      refusal(() =>
        combine([
          { x: 1, y },
          { x: 2, y: [1, 2, 3, 4] as unknown as Uint8Array }
        ])
      )
    ).toBe('INVALID_ARGUMENT: "y" expected Uint8Array');
    expect(
      refusal(() =>
        combine([
          { x: 1, y },
          { x: 2, y: new Uint8Array(5) }
        ])
      )
    ).toBe('SHARE_LENGTH_MISMATCH: Shares have different lengths.');
    // A first share without bytes is refused by its type, not read as length undefined.
    expect(refusal(() => combine([{ x: 1 } as unknown as { x: number; y: Uint8Array }, { x: 2, y }]))).toBe('INVALID_ARGUMENT: "y" expected Uint8Array');
  });

  it('wipe zeroes the workspace that held the last secret and its coefficients', () => {
    const engine = new ShamirEngine('js');
    const secret = new Uint8Array(1000).fill(0xa5);
    engine.split(secret, 3, [1, 2, 3]);
    const mem = () => engine.kernel.bytes();
    expect(mem().some((b) => b !== 0)).toBe(true);
    engine.wipe();
    expect(mem().every((b) => b === 0)).toBe(true);
  });
});

describe('lagrangeAt', () => {
  it('predicts a further share from k shares', () => {
    const secret = new Uint8Array([9, 8, 7]);
    const xs = [4, 9, 100, 33];
    const shares = split(secret, 3, xs);
    const engine = new ShamirEngine();
    const out = new Uint8Array(3);
    engine.interpolateInto(shares.slice(0, 3), xs.slice(0, 3), 33, out, 0);
    expect(eq(out, shares[3]!)).toBe(true);
    expect(lagrangeAt([1, 2], 1)).toEqual([1, 0]);
  });
});

describe('interoperability with privy-io/shamir-secret-sharing (same field)', () => {
  it('combines shares made by privy', async () => {
    const privy = await import('shamir-secret-sharing');
    const secret = new TextEncoder().encode('interoperable secret bytes');
    // privy's share layout: y bytes followed by the x byte.
    const shares = await privy.split(secret, 5, 3);
    const ours = shares.slice(1, 4).map((s) => ({ x: s[s.length - 1]!, y: s.subarray(0, s.length - 1) }));
    expect(eq(combine(ours), secret)).toBe(true);
  });
});
