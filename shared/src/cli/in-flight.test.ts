import { describe, expect, it } from 'vitest';
import { IN_FLIGHT_BYTES, chunksInFlight } from './in-flight.js';

const MiB = 1024 * 1024;

describe('chunksInFlight', () => {
  it('keeps what is wanted when it fits in the budget', () => {
    // (3,5) retrieved: k share chunks twice and the plaintext, 7 MiB a chunk.
    expect(chunksInFlight(6, 7 * MiB)).toBe(6);
  });

  it('cuts by bytes: (3,5) protected holds 11 MiB a chunk, so 3 of the 4 wanted fit', () => {
    expect(chunksInFlight(4, 11 * MiB)).toBe(3);
    // More relays, fewer chunks: the bytes in flight stay under the budget whatever n is.
    expect(chunksInFlight(6, 21 * MiB)).toBe(2);
    for (const n of [2, 3, 5, 8, 12, 16]) {
      const per = (1 + 2 * n) * MiB;
      const c = chunksInFlight(8, per);
      expect(c * per <= IN_FLIGHT_BYTES || c === 1).toBe(true);
    }
  });

  it('always keeps one chunk in flight, even one larger than the budget', () => {
    expect(chunksInFlight(4, 64 * MiB * 11)).toBe(1);
    expect(chunksInFlight(0, MiB)).toBe(1);
    expect(chunksInFlight(4, 0)).toBe(4);
  });
});
