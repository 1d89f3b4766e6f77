import { describe, expect, it } from 'vitest';
import { createProtectStream, fileIdFromHex } from './index.js';
import {
  MAX_METADATA_BYTES,
  MIN_METADATA_BYTES,
  compactShareChunkBounds,
  dataChunkBytes,
  dataShareChunkLength,
  maxCompactShareChunkLength,
  maxShareChunkLength,
  maxShareChunkLengthFor,
  shareChunkBounds,
  shareChunkBoundsFor
} from './share-sizes.js';

/** Every share chunk the real encoder makes for `size` bytes, as [index, length] (of every relay's, all equal). */
async function encoded(size: number, chunkSize: number, name: string, type: string, mode: 'shamir' | 'compact' = 'shamir', k = 2): Promise<Array<[number, number]>> {
  const xs = Array.from({ length: k + 1 }, (_, i) => i + 1);
  const p = await createProtectStream({ k, xs, mode, fileId: fileIdFromHex('ab'.repeat(16)), file: { name, size, type, chunkSize } });
  const writing = (async () => {
    const w = p.writable.getWriter();
    await w.write(new Uint8Array(size));
    await w.close();
  })();
  const out: Array<[number, number]> = [];
  for await (const c of p.readable) {
    expect(new Set(c.shares.map((x) => x.length)).size).toBe(1);
    out.push([c.index, c.shares[0]!.length]);
  }
  await writing;
  return out;
}

describe('share chunk sizes', () => {
  it('match what the encoder writes, chunk by chunk, for full, partial and empty last chunks', async () => {
    for (const [size, chunkSize] of [
      [0, 1024],
      [1, 1024],
      [1024, 1024],
      [1025, 1024],
      [5000, 1024]
    ] as const) {
      for (const [index, length] of await encoded(size, chunkSize, 'n', '')) {
        const b = shareChunkBounds(size, chunkSize, index);
        expect(length, `size ${size} index ${index}`).toBeGreaterThanOrEqual(b.min);
        expect(length, `size ${size} index ${index}`).toBeLessThanOrEqual(b.max);
        expect(length).toBeLessThanOrEqual(maxShareChunkLength(size, chunkSize));
        if (index > 0) expect(b.min).toBe(b.max);
      }
    }
  });

  it('bound the metadata chunk by the shortest and longest name and type', async () => {
    const [[, shortest]] = (await encoded(0, 1024, 'n', '')) as [[number, number]];
    const [[, longest]] = (await encoded(0, 1024, 'é'.repeat(512), 't'.repeat(255))) as [[number, number]];
    expect(shortest).toBe(shareChunkBounds(0, 1024, 0).min);
    expect(longest).toBe(shareChunkBounds(0, 1024, 0).max);
    expect(MAX_METADATA_BYTES - MIN_METADATA_BYTES).toBe(1024 + 255 - 1);
  });

  it('give the last data chunk the remainder and refuse indexes outside 1..count', () => {
    expect(dataChunkBytes(2500, 1000, 1)).toBe(1000);
    expect(dataChunkBytes(2500, 1000, 3)).toBe(500);
    expect(() => dataChunkBytes(2500, 1000, 4)).toThrow(RangeError);
    expect(() => dataChunkBytes(2500, 1000, 0)).toThrow(RangeError);
    expect(maxShareChunkLength(1024, 1024 * 1024)).toBe(40 + 16 + MAX_METADATA_BYTES);
    expect(maxShareChunkLength(5 * 1024 * 1024, 1024 * 1024)).toBe(40 + 16 + 1024 * 1024);
  });

  it('compact files: exact fragment lengths for k = 2, 3, 5 and the metadata range with the data points', async () => {
    for (const k of [2, 3, 5]) {
      for (const [size, chunkSize] of [
        [0, 1024],
        [1, 1024],
        [1024, 1024],
        [1025, 1024],
        [5000, 1024]
      ] as const) {
        for (const [index, length] of await encoded(size, chunkSize, 'n', '', 'compact', k)) {
          const b = compactShareChunkBounds(size, chunkSize, index, k);
          expect(length, `k ${k} size ${size} index ${index}`).toBeGreaterThanOrEqual(b.min);
          expect(length, `k ${k} size ${size} index ${index}`).toBeLessThanOrEqual(b.max);
          expect(length).toBeLessThanOrEqual(maxCompactShareChunkLength(size, chunkSize, k));
          if (index > 0) expect(b.min).toBe(b.max);
        }
      }
      const [[, shortest]] = (await encoded(0, 1024, 'n', '', 'compact', k)) as [[number, number]];
      const [[, longest]] = (await encoded(0, 1024, 'é'.repeat(512), 't'.repeat(255), 'compact', k)) as [[number, number]];
      expect(shortest).toBe(compactShareChunkBounds(0, 1024, 0, k).min);
      expect(longest).toBe(compactShareChunkBounds(0, 1024, 0, k).max);
    }
    // (3,5), 1 MiB chunks: each relay stores a third of a chunk plus the tag's share and the header.
    expect(maxCompactShareChunkLength(5 * 1024 * 1024, 1024 * 1024, 3)).toBe(40 + Math.ceil((1024 * 1024 + 16) / 3));
    expect(() => compactShareChunkBounds(10, 10, 1, 1)).toThrow(RangeError);
  });

  it('the per-mode dispatch (the coordinator and the browser engine) answers each mode its own sizes', async () => {
    for (const k of [2, 3, 5]) {
      for (const [size, chunkSize] of [
        [0, 1024],
        [1, 1024],
        [1024, 1024],
        [5000, 1024]
      ] as const) {
        for (const mode of ['shamir', 'compact'] as const) {
          const chunks = await encoded(size, chunkSize, 'n', '', mode, k);
          for (const [index, length] of chunks) {
            const b = shareChunkBoundsFor(mode, size, chunkSize, index, k);
            expect(length, `${mode} k ${k} size ${size} index ${index}`).toBeGreaterThanOrEqual(b.min);
            expect(length).toBeLessThanOrEqual(b.max);
            expect(length).toBeLessThanOrEqual(maxShareChunkLengthFor(mode, size, chunkSize, k));
            if (index > 0) expect(dataShareChunkLength(mode, dataChunkBytes(size, chunkSize, index), k)).toBe(length);
          }
        }
      }
    }
    // Written out: (3,5), a 1 MiB chunk is 40 + 1 MiB + 16 per relay in Shamir mode, 40 + ceil((1 MiB + 16) / 3) compact.
    expect(dataShareChunkLength('shamir', 1024 * 1024, 3)).toBe(40 + 1024 * 1024 + 16);
    expect(dataShareChunkLength('compact', 1024 * 1024, 3)).toBe(40 + 349531);
  });
});
