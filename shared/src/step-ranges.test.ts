import { describe, expect, it } from 'vitest';
import { STEP_SHARE_BYTES, chunkRanges } from './step-ranges.js';

describe('chunkRanges', () => {
  it('covers chunks 0..chunkCount in order, without gaps or overlaps, within the budget', () => {
    for (const [count, size, budget] of [
      [0, 1000, 5000],
      [1, 1000, 5000],
      [9, 1000, 5000],
      [10, 1000, 5000],
      [1024, 1 << 20, STEP_SHARE_BYTES],
      [3, 64 << 20, STEP_SHARE_BYTES]
    ] as const) {
      const ranges = chunkRanges(count, size, budget);
      const covered = ranges.flatMap(([from, to]) => Array.from({ length: to - from + 1 }, (_, i) => from + i));
      expect(covered).toEqual(Array.from({ length: count + 1 }, (_, i) => i));
      for (const [from, to] of ranges) expect(to - from + 1).toBeLessThanOrEqual(Math.max(1, Math.floor(budget / size)));
    }
  });

  it('gives a chunk larger than the budget a range of its own', () => {
    expect(chunkRanges(2, 64 << 20, 16 << 20)).toEqual([
      [0, 0],
      [1, 1],
      [2, 2]
    ]);
    expect(chunkRanges(2, 1000, 1)).toEqual([
      [0, 0],
      [1, 1],
      [2, 2]
    ]);
  });

  it('refuses what is not a count or a size', () => {
    expect(() => chunkRanges(-1, 1000)).toThrow(RangeError);
    expect(() => chunkRanges(1.5, 1000)).toThrow(RangeError);
    expect(() => chunkRanges(1, 0)).toThrow(RangeError);
    expect(() => chunkRanges(1, 1000, 0)).toThrow(RangeError);
  });
});
