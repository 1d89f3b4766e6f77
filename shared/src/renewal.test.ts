import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { gfMul } from './gf256.js';
import { checkNonce, failedEquations, gmacWeb, mulConstant, mulConstantInto, parityWeights } from './renewal.js';
import { split } from './shamir.js';

/** Reference: scalar multiply (log/exp tables), fine for a test. */
const mulRef = (data: Uint8Array, c: number): Uint8Array => data.map((b) => gfMul(b, c));

describe('mulConstant (kernel) against the scalar reference', () => {
  it.each([0, 1, 2, 0x53, 0xff])('c = %i over lengths 0..200', (c) => {
    for (let len = 0; len <= 200; len += 13) {
      const data = new Uint8Array(randomBytes(len));
      expect(Buffer.from(mulConstant(data, c)).equals(Buffer.from(mulRef(data, c)))).toBe(true);
    }
  });
});

describe('mulConstantInto (a reused buffer)', () => {
  it('writes c * data into the front of a longer buffer, reused over lengths, and answers that part', () => {
    const out = new Uint8Array(300).fill(0xaa);
    for (const len of [200, 7, 64, 0, 131]) {
      const data = new Uint8Array(randomBytes(len));
      const got = mulConstantInto(data, 0x53, out);
      expect(got.buffer).toBe(out.buffer);
      expect(got.length).toBe(len);
      expect(Buffer.from(got).equals(Buffer.from(mulRef(data, 0x53)))).toBe(true);
    }
    // Past the answer the buffer is untouched by the last call (its bytes are the longest earlier one's).
    expect(out.subarray(200)).toEqual(new Uint8Array(100).fill(0xaa));
  });

  it('refuses a buffer shorter than the data, and a constant out of range', () => {
    expect(() => mulConstantInto(new Uint8Array(10), 2, new Uint8Array(9))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => mulConstantInto(new Uint8Array(10), 256, new Uint8Array(10))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('parityWeights', () => {
  it.each([
    [2, 3],
    [3, 5],
    [5, 5],
    [2, 2]
  ])('(%i,%i): every honest update (zero-constant polynomial) satisfies every equation; a non-zero constant does not', (k, n) => {
    const xs = Array.from({ length: n }, (_, j) => 3 + 11 * j);
    const w = parityWeights(xs, k);
    const u = split(new Uint8Array(64), k, xs); // shares of 0: U(0) = 0, degree k-1
    const bad = split(new Uint8Array(64).fill(9), k, xs); // U(0) = 9
    for (let eq = 0; eq <= n - k; eq++) {
      const sum = (ys: Uint8Array[]) => {
        const acc = new Uint8Array(64);
        ys.forEach((y, j) => mulRef(y, w[j]![eq]!).forEach((v, b) => (acc[b]! ^= v)));
        return acc;
      };
      expect(sum(u).every((v) => v === 0)).toBe(true);
      expect(sum(bad).some((v) => v !== 0)).toBe(true);
    }
  });
});

describe('GMAC and the aggregate check', () => {
  it('gmacWeb (WebCrypto) equals node:crypto AES-128-GCM with empty plaintext', async () => {
    const key = new Uint8Array(randomBytes(16));
    const data = new Uint8Array(randomBytes(1000));
    const c = createCipheriv('aes-128-gcm', key, checkNonce(2, 7));
    c.setAAD(data);
    c.final();
    expect(Buffer.from(await gmacWeb(key, checkNonce(2, 7), data)).equals(c.getAuthTag())).toBe(true);
  });

  const tagsOf = async (key: Uint8Array<ArrayBuffer>, updates: Uint8Array[][], w: number[][]) =>
    Promise.all(
      updates.map(async (perChunk, j) =>
        Promise.all(
          w[j]!.map(async (h, eq) => {
            const acc = new Uint8Array(16);
            for (const [i, u] of perChunk.entries()) (await gmacWeb(key, checkNonce(eq, i), new Uint8Array(mulRef(u, h)))).forEach((v, b) => (acc[b]! ^= v));
            return acc;
          })
        )
      )
    );

  it.each([
    [2, 3],
    [3, 5]
  ])('(%i,%i): honest updates pass, one flipped bit fails its equation', async (k, n) => {
    const xs = Array.from({ length: n }, (_, j) => 1 + j);
    const w = parityWeights(xs, k);
    const key = new Uint8Array(randomBytes(16));
    const lens = [40, 0, 17];
    // updates[j][i]: relay j's update of chunk i
    const perChunk = lens.map((len) => split(new Uint8Array(len), k, xs));
    const updates = xs.map((_, j) => perChunk.map((c) => c[j]!));
    const chunks = lens.map((bodyLength, index) => ({ index, bodyLength }));
    expect(await failedEquations(await tagsOf(key, updates, w), key, chunks)).toEqual([]);
    updates[n - 1]![0]![5]! ^= 0x10;
    expect(await failedEquations(await tagsOf(key, updates, w), key, chunks)).toEqual([n - k]);
  });
});
