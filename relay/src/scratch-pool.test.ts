/**
 * The relay's pool of chunk-sized scratch buffers (scratch-pool.ts): reuse, wiping, bounds, and the loud
 * refusal of a buffer given back twice.
 */
import { describe, expect, it } from 'vitest';
import { giveScratch, scratchPoolSize, takeScratch } from './scratch-pool.js';
import { Scratch } from './renewal.js';

/** Empties the pool (module state shared by the tests in this file). */
function drain(): void {
  const taken: Buffer[] = [];
  while (scratchPoolSize().buffers > 0) taken.push(takeScratch(1));
}

describe('scratch pool', () => {
  it('gives back the smallest free buffer that fits, wiped; a larger need gets a fresh one', () => {
    drain();
    const small = takeScratch(1000);
    const big = takeScratch(5000);
    small.fill(7);
    big.fill(9);
    giveScratch(big);
    giveScratch(small);
    expect(scratchPoolSize()).toEqual({ buffers: 2, bytes: 6000 });
    const again = takeScratch(900);
    expect(again).toBe(small);
    expect(again.every((b) => b === 0)).toBe(true);
    const other = takeScratch(4000);
    expect(other).toBe(big);
    expect(other.every((b) => b === 0)).toBe(true);
    const fresh = takeScratch(6000);
    expect(fresh).not.toBe(small);
    expect(fresh.length).toBe(6000);
    expect(scratchPoolSize()).toEqual({ buffers: 0, bytes: 0 });
  });

  it('keeps at most 16 buffers and 24 MiB; past that a buffer given back is dropped (still wiped)', () => {
    drain();
    const many = Array.from({ length: 20 }, () => takeScratch(1024));
    for (const b of many) giveScratch(b);
    expect(scratchPoolSize().buffers).toBe(16);
    drain();
    const large = Array.from({ length: 3 }, () => takeScratch(10 * 1024 * 1024));
    for (const b of large) b.fill(1);
    for (const b of large) giveScratch(b);
    expect(scratchPoolSize()).toEqual({ buffers: 2, bytes: 20 * 1024 * 1024 });
    expect(large[2]!.every((b) => b === 0)).toBe(true);
    drain();
  });

  it('refuses a buffer given back twice', () => {
    drain();
    const b = takeScratch(10);
    giveScratch(b);
    expect(() => giveScratch(b)).toThrow('given back twice');
    drain();
  });

  it('a Scratch reuses its buffer from chunk to chunk, trades it for a larger one, and gives it back wiped on release', () => {
    drain();
    const s = new Scratch();
    const a = s.take(100);
    a.fill(5);
    expect(s.take(80).buffer).toBe(a.buffer);
    const bigger = s.take(200);
    expect(bigger.buffer).not.toBe(a.buffer);
    // The smaller one went back to the pool, wiped.
    expect(scratchPoolSize().buffers).toBe(1);
    expect(new Uint8Array(a.buffer, a.byteOffset, 100).every((b) => b === 0)).toBe(true);
    bigger.fill(3);
    s.release();
    expect(scratchPoolSize().buffers).toBe(2);
    expect(new Uint8Array(bigger.buffer, bigger.byteOffset, 200).every((b) => b === 0)).toBe(true);
    drain();
  });
});
