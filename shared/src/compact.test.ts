/**
 * Compact mode (docs/compact-mode.md): AES-256-GCM per chunk, systematic Reed-Solomon fragments over
 * GF(256), the file key Shamir-split inside the metadata record. Round trips over sizes x (k, n), any k of
 * n fragments rebuild (fast-check), every change to a fragment or a key share is caught and, with more
 * than k, the relay named, k-1 never rebuild, and the Reed-Solomon evaluation agrees with a bitwise
 * reference on both kernels.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ShareDecoder, newMacKey } from './codec.js';
import { CompactEncoder, compactShareChunkLength } from './compact.js';
import { evaluateRows, fragmentLength } from './erasure.js';
import { FLAG_FINAL, HEADER_BYTES, MODE_COMPACT, parseHeader } from './chunk-format.js';
import { createKernel } from './gf256.js';
import { randomBytes } from './random.js';
import { ShamirEngine } from './shamir.js';
import { seededSource } from './testing.js';
import { evalRef } from '../test/reference.js';
import { pickSets, protectInPieces, retrieveSets as retrieve, sameBytes as eq, singleByteChanges } from '../test/stream-harness.js';

const MiB = 1024 * 1024;

function protect(data: Uint8Array, opts: { k: number; xs: number[]; chunkSize?: number; mode?: 'shamir' | 'compact' }) {
  const file = { name: 'f.bin', size: data.length, type: 'application/octet-stream', ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}) };
  return protectInPieces(data, { k: opts.k, xs: opts.xs, fileId: randomBytes(16), mode: opts.mode ?? 'compact', file }, 70_001);
}

describe('Reed-Solomon evaluation (erasure.ts)', () => {
  it.each(['wasm-simd', 'js'] as const)('%s kernel agrees with the bitwise reference, rows shorter than len zero-padded', (kind) => {
    const kernel = createKernel(kind);
    const src = seededSource(5);
    for (const [k, len] of [
      [2, 1],
      [3, 17],
      [4, 65_536 + 33],
      [7, 200]
    ] as const) {
      const xs = [9, 200, 3, 77, 1, 45, 254].slice(0, k);
      const ys = xs.map((_, i) => {
        const y = new Uint8Array(i === k - 1 ? Math.max(0, len - 5) : len);
        src.fill(y);
        return y;
      });
      const targets = [18, 99, 255];
      const outs = targets.map(() => new Uint8Array(len + 3).fill(0xee));
      evaluateRows(kernel, ys, xs, targets, len, outs, 3);
      for (let t = 0; t < targets.length; t++) {
        expect(Array.from(outs[t]!.subarray(0, 3))).toEqual([0xee, 0xee, 0xee]);
        for (const p of [0, 1, len >> 1, len - 6, len - 1].filter((q) => q >= 0 && q < len)) {
          expect(outs[t]![3 + p], `k=${k} t=${t} p=${p}`).toBe(
            evalRef(
              xs,
              ys.map((y) => y[p] ?? 0),
              targets[t]!
            )
          );
        }
      }
    }
  });

  it('the WASM and JS kernels write identical fragments', async () => {
    const fileKey = randomBytes(32);
    const opts = { k: 3, xs: [7, 70, 140, 210, 33], fileId: randomBytes(16), epoch: 0 };
    const data = randomBytes(100_000);
    const a = await (await CompactEncoder.create({ ...opts, engine: new ShamirEngine('wasm-simd') }, fileKey)).encodeData(1, true, data);
    const b = await (await CompactEncoder.create({ ...opts, engine: new ShamirEngine('js') }, fileKey)).encodeData(1, true, data);
    expect(a.map((x) => Buffer.from(x).toString('hex'))).toEqual(b.map((x) => Buffer.from(x).toString('hex')));
  });
});

describe('kernels across the boundary', () => {
  it('a reader on the JS fallback rebuilds, from parity fragments, what the WASM kernel encoded', async () => {
    const fileKey = newMacKey();
    const fileId = randomBytes(16);
    const xs = [3, 30, 90, 150, 210];
    const enc = await CompactEncoder.create({ k: 3, xs, fileId, epoch: 0, engine: new ShamirEngine('wasm-simd') }, fileKey);
    const data = randomBytes(200_000);
    const meta = await enc.encodeMetadata({ name: 'j', type: '', size: data.length, chunkSize: data.length, chunkCount: 1, createdAt: 0, macKey: fileKey });
    const frags = await enc.encodeData(1, true, data);
    const dec = new ShareDecoder(new ShamirEngine('js'));
    await dec.decodeMetadata(meta.slice(2), { fileId });
    const d = await dec.decodeData([frags[4]!, frags[3]!, frags[1]!], { fileId, index: 1 });
    expect(eq(d.data, data)).toBe(true);
  });
});

describe('compact round trips: sizes x (k, n)', () => {
  // The product's thresholds are k >= 2, k <= n <= 255 (the coordinator refuses k = 1: one relay alone
  // would then hold the key). (2,2) and (5,5) have no parity fragment at all.
  const params: Array<[number, number]> = [
    [2, 2],
    [2, 3],
    [3, 5],
    [5, 5],
    [4, 10]
  ];
  const chunkSize = 1000;
  const sizes = [0, 1, 15, 16, 17, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize, 3 * chunkSize + 7];

  it.each(params)('(%i,%i): every size rebuilds from the first k (systematic) and the last k fragments', async (k, n) => {
    const xs = Array.from({ length: n }, (_, i) => 255 - 11 * i);
    for (const size of sizes) {
      const data = randomBytes(size);
      const { fileId, chunks } = await protect(data, { k, xs, chunkSize });
      expect(chunks.length).toBe(1 + Math.ceil(size / chunkSize));
      for (const c of chunks.slice(1)) {
        const len = Math.min(chunkSize, size - (c.index - 1) * chunkSize);
        // n/k of the data (plus the GCM tag, padding and header), not n times it.
        for (const s of c.shares) expect(s.length).toBe(compactShareChunkLength(len, k));
        expect(parseHeader(c.shares[0]!)).toMatchObject({ mode: MODE_COMPACT, pad: k * fragmentLength(len + 16, k) - len - 16 });
      }
      for (const pick of [xs.map((_, i) => i).slice(0, k), xs.map((_, i) => i).slice(n - k)]) {
        const out = await retrieve(pickSets(chunks, pick), fileId);
        expect(out.error, `(${k},${n}) size ${size} pick ${pick.join()}`).toBeUndefined();
        expect(eq(out.data, data)).toBe(true);
        expect(out.bad).toEqual([]);
      }
    }
  });

  it.each([
    [2, 3],
    [3, 5]
  ])('(%i,%i): 3 MiB + 5 bytes in 1 MiB chunks, from parity-heavy k fragments', async (k, n) => {
    const data = randomBytes(3 * MiB + 5);
    const xs = Array.from({ length: n }, (_, i) => i + 1);
    const { fileId, chunks } = await protect(data, { k, xs });
    const stored = chunks.slice(1).reduce((sum, c) => sum + c.shares.reduce((s, x) => s + x.length, 0), 0);
    // n/k storage: (3,5) stores 1.67x the data, not 5x.
    expect(stored / data.length).toBeLessThan((n / k) * 1.001);
    const out = await retrieve(pickSets(chunks, xs.map((_, i) => i).slice(n - k)), fileId);
    expect(out.error).toBeUndefined();
    expect(eq(out.data, data)).toBe(true);
  });
});

describe('any k of n fragments rebuild (property)', () => {
  it('random (k, n), x-coordinates, sizes and k-subsets, on the codec directly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 8 }).chain((n) =>
          fc.record({
            n: fc.constant(n),
            k: fc.integer({ min: 2, max: n }),
            xs: fc.uniqueArray(fc.integer({ min: 1, max: 255 }), { minLength: n, maxLength: n }),
            order: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n })
          })
        ),
        fc.integer({ min: 0, max: 3000 }),
        async ({ k, xs, order }, size) => {
          const fileId = randomBytes(16);
          const fileKey = newMacKey();
          const enc = await CompactEncoder.create({ k, xs, fileId, epoch: 3 }, fileKey);
          const data = randomBytes(size);
          const chunkSize = 1024;
          const count = Math.ceil(size / chunkSize);
          const meta = await enc.encodeMetadata({ name: 'p', type: '', size, chunkSize, chunkCount: count, createdAt: 0, macKey: fileKey });
          const pick = order.slice(0, k);
          const dec = new ShareDecoder();
          const m = await dec.decodeMetadata(
            pick.map((j) => meta[j]!),
            { fileId }
          );
          expect(m.meta.compact?.dataXs).toEqual(xs.slice(0, k));
          for (let i = 1; i <= count; i++) {
            const part = data.subarray((i - 1) * chunkSize, i * chunkSize);
            const frags = await enc.encodeData(i, i === count, part);
            const d = await dec.decodeData(
              pick.map((j) => frags[j]!),
              { fileId, index: i, epoch: 3, k }
            );
            expect(eq(d.data, part)).toBe(true);
            expect(d.flags & FLAG_FINAL).toBe(i === count ? FLAG_FINAL : 0);
          }
        }
      ),
      { numRuns: 80 }
    );
  });
});

describe('tampering and too few fragments', () => {
  const k = 3;
  const xs = [5, 60, 120, 180, 240];

  it('every single-byte change to any of k fragments or key shares fails its chunk, and nothing of it comes out', async () => {
    const data = randomBytes(100);
    const { fileId, chunks } = await protect(data, { k, xs, chunkSize: 48 });
    // Two data pieces and one parity fragment: both the copy path and the Reed-Solomon path are read.
    const pick = [0, 2, 4];
    let cases = 0;
    for (const { chunk: c, share: j, byte: b, sets } of singleByteChanges(chunks, pick, 7)) {
      const out = await retrieve(sets, fileId);
      cases++;
      const where = `chunk ${c} fragment ${j} byte ${b}`;
      expect(out.error, where).toBeDefined();
      // A body byte can only be caught by the tag (or the zero padding): AUTH_FAILED, never a format code.
      if (b >= HEADER_BYTES) expect(out.error, where).toBe('AUTH_FAILED');
      expect(eq(out.data, data.subarray(0, Math.max(0, c - 1) * 48)), where).toBe(true);
    }
    expect(cases).toBeGreaterThan(700);
  });

  it('with more than k, an altered fragment or key share is routed around and its position (relay) named', async () => {
    const data = randomBytes(100);
    const { fileId, chunks } = await protect(data, { k, xs, chunkSize: 48 });
    const pick = [0, 1, 2, 3, 4];
    for (let c = 0; c < chunks.length; c++) {
      for (const pos of pick) {
        const original = chunks[c]!.shares[pos]!;
        for (const b of [5, 6, 36, 37, HEADER_BYTES, original.length - 1]) {
          const tampered = original.slice();
          tampered[b]! ^= 0x01;
          const sets = pickSets(chunks, pick);
          sets[c] = { index: c, shares: sets[c]!.shares.map((s, i) => (i === pos ? tampered : s)) };
          const out = await retrieve(sets, fileId);
          expect(out.error, `chunk ${c} pos ${pos} byte ${b}`).toBeUndefined();
          expect(eq(out.data, data)).toBe(true);
          // The relay at `pos` (x = xs[pos]) is the one reported.
          expect(out.bad, `chunk ${c} pos ${pos} byte ${b}`).toEqual([[c, [pos]]]);
        }
      }
    }
  });

  it('the padding of the last piece is checked: a change confined to it on a data fragment is caught', async () => {
    // 20 bytes + 16-byte tag = 36 = 3 x 12: no padding; 21 bytes -> 37 -> pieces of 13, padding 2.
    const data = randomBytes(21);
    const { fileId, chunks } = await protect(data, { k, xs, chunkSize: 48 });
    const frag = chunks[1]!.shares[k - 1]!; // the last data piece, whose tail is padding
    expect(parseHeader(frag).pad).toBe(2);
    const tampered = frag.slice();
    tampered[tampered.length - 1]! ^= 0x80;
    const sets = pickSets(chunks, [0, 1, 2]);
    sets[1] = { index: 1, shares: [sets[1]!.shares[0]!, sets[1]!.shares[1]!, tampered] };
    expect((await retrieve(sets, fileId)).error).toBe('AUTH_FAILED');
    const more = pickSets(chunks, [0, 1, 2, 3]);
    more[1] = { index: 1, shares: [more[1]!.shares[0]!, more[1]!.shares[1]!, tampered, more[1]!.shares[3]!] };
    const out = await retrieve(more, fileId);
    expect(out.error).toBeUndefined();
    expect(out.bad).toEqual([[1, [2]]]);
  });

  it('k-1 fragments (or key shares) never rebuild: NOT_ENOUGH_SHARES, no plaintext', async () => {
    const data = randomBytes(5000);
    const { fileId, chunks } = await protect(data, { k, xs, chunkSize: 1000 });
    for (const pick of [
      [0, 1],
      [3, 4],
      [1, 4]
    ]) {
      const out = await retrieve(pickSets(chunks, pick), fileId);
      expect(out.error).toBe('NOT_ENOUGH_SHARES');
      expect(out.data.length).toBe(0);
    }
    // k key shares but k-1 fragments of a data chunk: the key alone does not rebuild the chunk.
    const dec = new ShareDecoder();
    await dec.decodeMetadata(
      [0, 1, 2].map((j) => chunks[0]!.shares[j]!),
      { fileId }
    );
    await expect(
      dec.decodeData(
        [0, 1].map((j) => chunks[1]!.shares[j]!),
        { fileId, index: 1 }
      )
    ).rejects.toMatchObject({ code: 'NOT_ENOUGH_SHARES' });
  });

  it('a Shamir share mixed into a compact chunk is refused as another mode, and the reverse', async () => {
    const data = randomBytes(100);
    const compact = await protect(data, { k, xs, chunkSize: 48 });
    const shamir = await protect(data, { k, xs, chunkSize: 48, mode: 'shamir' });
    const dec = new ShareDecoder();
    await dec.decodeMetadata(
      [0, 1, 2].map((j) => compact.chunks[0]!.shares[j]!),
      { fileId: compact.fileId }
    );
    // A Shamir-mode share carrying this file's id would still be refused by its header's mode.
    const foreign = shamir.chunks[1]!.shares[3]!.slice();
    foreign.set(compact.fileId, 8);
    const d = await dec.decodeData([...[0, 1, 2].map((j) => compact.chunks[1]!.shares[j]!), foreign], { fileId: compact.fileId, index: 1 });
    expect(d.bad).toEqual([3]);
    const dec2 = new ShareDecoder();
    await dec2.decodeMetadata(
      [0, 1, 2].map((j) => shamir.chunks[0]!.shares[j]!),
      { fileId: shamir.fileId }
    );
    const frag = compact.chunks[1]!.shares[3]!.slice();
    frag.set(shamir.fileId, 8);
    const d2 = await dec2.decodeData([...[0, 1, 2].map((j) => shamir.chunks[1]!.shares[j]!), frag], { fileId: shamir.fileId, index: 1 });
    expect(d2.bad).toEqual([3]);
  });
});

describe('CompactEncoder input checks', () => {
  it('refuses a threshold below 2, k > n, a short key and a data index of 0 with stable codes', async () => {
    const base = { k: 2, xs: [1, 2, 3], fileId: randomBytes(16), epoch: 0 };
    await expect(CompactEncoder.create({ ...base, k: 1 }, newMacKey())).rejects.toMatchObject({ code: 'INVALID_THRESHOLD' });
    await expect(CompactEncoder.create({ ...base, k: 4 }, newMacKey())).rejects.toMatchObject({ code: 'INVALID_THRESHOLD' });
    await expect(CompactEncoder.create({ ...base, xs: [1, 1, 2] }, newMacKey())).rejects.toMatchObject({ code: 'DUPLICATE_X' });
    await expect(CompactEncoder.create(base, randomBytes(16))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const enc = await CompactEncoder.create(base, newMacKey());
    await expect(enc.encodeData(0, true, new Uint8Array(3))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('writes into caller buffers the same bytes as into fresh ones', async () => {
    const fileKey = newMacKey();
    const opts = { k: 3, xs: [1, 2, 3, 4, 5], fileId: randomBytes(16), epoch: 0 };
    const data = randomBytes(1000);
    const fresh = await (await CompactEncoder.create(opts, fileKey)).encodeData(2, false, data);
    const into = opts.xs.map(() => new Uint8Array(compactShareChunkLength(1000, 3) + 9).fill(0xab));
    const reused = await (await CompactEncoder.create(opts, fileKey)).encodeData(2, false, data, into);
    reused.forEach((s, j) => {
      expect(s.buffer).toBe(into[j]!.buffer);
      expect(eq(s, fresh[j]!)).toBe(true);
    });
  });
});
