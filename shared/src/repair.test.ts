/**
 * Repair by relays (docs/repair.md): correctness against Shamir's own split, and secrecy: a log of what
 * the receiver and each helper see shows no party holds more than its own share's worth.
 */
import { describe, expect, it } from 'vitest';
import { combine, split } from './shamir.js';
import { gfMul } from './gf256.js';
import { randomBytes } from './random.js';
import { seededSource, useRandomSource } from './testing.js';
import { REPAIR_SEED_BYTES, maskedContribution, repairCoefficient, repairPad, sumContributions, xorInto } from './repair.js';

interface Transcript {
  /** What each helper received from the other helpers (pad seeds), by helper. */
  helperInbox: Uint8Array[][];
  /** What the receiver received, one message per helper. */
  receiverInbox: Uint8Array[];
  result: Uint8Array;
}

/** Runs the protocol of docs/repair.md for one chunk among k helpers, logging every message. */
async function runRepair(helpers: Array<{ x: number; y: Uint8Array }>, xNew: number, index = 1): Promise<Transcript> {
  const xs = helpers.map((h) => h.x);
  const k = helpers.length;
  const seeds = new Map<string, Uint8Array>();
  const helperInbox: Uint8Array[][] = helpers.map(() => []);
  // Pad exchange: the lower helper of each pair draws the seed and sends it to the higher one.
  for (let a = 0; a < k; a++) {
    for (let b = a + 1; b < k; b++) {
      const seed = randomBytes(REPAIR_SEED_BYTES);
      seeds.set(`${a}:${b}`, seed);
      helperInbox[b]!.push(seed);
    }
  }
  const receiverInbox: Uint8Array[] = [];
  for (let j = 0; j < k; j++) {
    const pads: Uint8Array[] = [];
    for (let l = 0; l < k; l++) if (l !== j) pads.push(await repairPad(seeds.get(`${Math.min(j, l)}:${Math.max(j, l)}`)!, index, helpers[j]!.y.length));
    receiverInbox.push(maskedContribution(helpers[j]!.y, repairCoefficient(xs, j, xNew), pads));
  }
  return { helperInbox, receiverInbox, result: sumContributions(receiverInbox) };
}

/** Pearson chi-squared of byte values against uniform (255 degrees of freedom). */
function chiSquared(bytes: Uint8Array): number {
  const counts = new Array<number>(256).fill(0);
  for (const b of bytes) counts[b]!++;
  const e = bytes.length / 256;
  return counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
}
// chi2(255) exceeds 330.5 with probability 0.001: a uniform source fails this bound once in a thousand runs.
const CHI2_255_P001 = 330.5;

describe('repair by relays', () => {
  it.each([
    [2, 3],
    [3, 5],
    [5, 5]
  ])('(%i,%i): the k helpers rebuild a lost share byte for byte, and a fresh x joins the others', async (k, n) => {
    const secret = randomBytes(10_000 + k);
    const xs = [9, 200, 17, 3, 128].slice(0, n);
    const shares = split(secret, k, xs);
    // The last share is lost; the first k are the helpers.
    const helpers = xs.slice(0, k).map((x, i) => ({ x, y: shares[i]! }));
    const lostX = xs[n - 1]!;
    if (n > k) expect((await runRepair(helpers, lostX)).result).toEqual(shares[n - 1]);
    // A replacement relay at a fresh x: its share with k-1 others rebuilds the secret.
    const fresh = (await runRepair(helpers, 77)).result;
    const rebuilt = combine([{ x: 77, y: fresh }, ...helpers.slice(1).map((h) => ({ x: h.x, y: h.y }))]);
    expect(rebuilt).toEqual(secret);
  });

  it('secrecy: each message the receiver gets is uniform, so is any k-1 of them together, and they sum to its share', async () => {
    // Helper shares of one constant byte each: without pads, every message would be one constant byte.
    const k = 3;
    const len = 64 * 1024;
    const helpers = [
      { x: 1, y: new Uint8Array(len).fill(0xaa) },
      { x: 2, y: new Uint8Array(len).fill(0x55) },
      { x: 3, y: new Uint8Array(len).fill(0x0f) }
    ];
    const t = await runRepair(helpers, 4);
    for (const m of t.receiverInbox) expect(chiSquared(m)).toBeLessThan(CHI2_255_P001);
    expect(chiSquared(sumContributions(t.receiverInbox.slice(0, k - 1)))).toBeLessThan(CHI2_255_P001);
    expect(chiSquared(sumContributions(t.receiverInbox.slice(1)))).toBeLessThan(CHI2_255_P001);
    // The sum is its share: f(4) of these constant shares, the same byte everywhere.
    const f4 = helpers.reduce((acc, h, j) => acc ^ gfMul(repairCoefficient([1, 2, 3], j, 4), h.y[0]!), 0);
    expect(t.result.every((b) => b === f4)).toBe(true);
    // The test has power: the same messages without pads are one constant byte each.
    const unmasked = maskedContribution(helpers[0]!.y, repairCoefficient([1, 2, 3], 0, 4), []);
    expect(chiSquared(unmasked)).toBeGreaterThan(1e6);
  });

  it('secrecy: what helpers see (pad seeds) does not depend on any share', async () => {
    const run = async (secret: Uint8Array) => {
      const restore = useRandomSource(seededSource(42));
      try {
        const shares = split(secret, 3, [1, 2, 3, 4]);
        const restore2 = useRandomSource(seededSource(7));
        try {
          return await runRepair(
            [1, 2, 3].map((x, i) => ({ x, y: shares[i]! })),
            4
          );
        } finally {
          restore2();
        }
      } finally {
        restore();
      }
    };
    const a = await run(new Uint8Array(4096).fill(1));
    const b = await run(randomBytes(4096));
    expect(a.helperInbox).toEqual(b.helperInbox);
    // Each helper received exactly its lower-numbered peers' seeds, 32 bytes each, and nothing else.
    expect(a.helperInbox.map((inbox) => inbox.map((s) => s.length))).toEqual([[], [32], [32, 32]]);
    expect(a.result).not.toEqual(b.result);
  });

  it('pads are per chunk: the same seed gives other bytes for another chunk index', async () => {
    const seed = randomBytes(REPAIR_SEED_BYTES);
    expect(await repairPad(seed, 1, 64)).toEqual(await repairPad(seed, 1, 64));
    expect(await repairPad(seed, 1, 64)).not.toEqual(await repairPad(seed, 2, 64));
  });

  it('refuses bad points and mismatched lengths with codes', async () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return undefined;
    };
    expect(code(() => repairCoefficient([1, 2], 0, 2))).toBe('DUPLICATE_X');
    expect(code(() => repairCoefficient([1, 2], 0, 0))).toBe('INVALID_X');
    expect(code(() => repairCoefficient([1, 1], 0, 3))).toBe('DUPLICATE_X');
    expect(code(() => repairCoefficient([1, 2], 2, 3))).toBe('INVALID_ARGUMENT');
    expect(code(() => maskedContribution(new Uint8Array(4), 1, [new Uint8Array(3)]))).toBe('SHARE_LENGTH_MISMATCH');
    expect(code(() => sumContributions([new Uint8Array(4), new Uint8Array(5)]))).toBe('SHARE_LENGTH_MISMATCH');
    await expect(repairPad(new Uint8Array(31), 0, 4)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('xorInto (word loop below 4 KiB, the SIMD kernel from there, in 64 KiB blocks)', () => {
  const bytewise = (a: Uint8Array, b: Uint8Array): Uint8Array => a.map((v, i) => v ^ b[i]!);

  it('equals bytewise XOR at every size around its thresholds, aligned or not, with a longer addend', () => {
    for (const n of [0, 1, 3, 17, 4095, 4096, 4097, 65_535, 65_536, 65_537, 131_072 + 5, 1_048_576 + 40]) {
      for (const shift of [0, 1, 3]) {
        const backing = new Uint8Array(randomBytes(Math.min(65_536, n + shift + 8)));
        const a = new Uint8Array(n + shift);
        for (let at = 0; at < a.length; at += backing.length) a.set(backing.subarray(0, Math.min(backing.length, a.length - at)), at);
        const out = a.subarray(shift);
        const p = new Uint8Array(n + 8);
        p.set(randomBytes(Math.min(65_536, p.length)));
        p[p.length - 1] = 0xa5;
        const expected = bytewise(out, p.subarray(0, n));
        const before = new Uint8Array(a.subarray(0, shift));
        xorInto(out, p);
        expect(Buffer.from(out).equals(Buffer.from(expected)), `${n} bytes at offset ${shift}`).toBe(true);
        // Nothing outside out changes.
        expect(Buffer.from(a.subarray(0, shift)).equals(Buffer.from(before))).toBe(true);
      }
    }
  });

  it('XORing the same addend twice gives the input back (a term added and removed)', () => {
    const out = new Uint8Array(randomBytes(65_536));
    const tail = new Uint8Array(randomBytes(9_000));
    const big = new Uint8Array(74_536);
    big.set(out);
    big.set(tail, 65_536);
    const original = new Uint8Array(big);
    const p = new Uint8Array(74_536).fill(0x3c);
    xorInto(big, p);
    expect(big.every((v, i) => v === (original[i]! ^ 0x3c))).toBe(true);
    xorInto(big, p);
    expect(Buffer.from(big).equals(Buffer.from(original))).toBe(true);
  });
});
