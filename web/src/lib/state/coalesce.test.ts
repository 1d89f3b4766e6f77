import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { coalesce } from './coalesce';

describe('coalesce', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('passes the first value at once and the latest of a burst at the end of the period', () => {
    const seen: number[] = [];
    const c = coalesce((v: number) => seen.push(v), 200);
    c.push(1);
    expect(seen).toEqual([1]);
    for (let v = 2; v <= 50; v++) c.push(v);
    expect(seen).toEqual([1]);
    vi.advanceTimersByTime(199);
    expect(seen).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(seen).toEqual([1, 50]);
  });

  it('never drops the last value and never passes one twice', () => {
    const seen: number[] = [];
    const c = coalesce((v: number) => seen.push(v), 100);
    for (let v = 1; v <= 1000; v++) {
      c.push(v);
      vi.advanceTimersByTime(3);
    }
    vi.advanceTimersByTime(100);
    expect(seen.at(-1)).toBe(1000);
    expect(new Set(seen).size).toBe(seen.length);
    // About one value per 100 ms over 3 s, not 1000.
    expect(seen.length).toBeLessThanOrEqual(32);
  });

  it('after a quiet period the next value is passed at once', () => {
    const seen: number[] = [];
    const c = coalesce((v: number) => seen.push(v), 100);
    c.push(1);
    vi.advanceTimersByTime(500);
    c.push(2);
    expect(seen).toEqual([1, 2]);
  });

  it('flush passes the waiting value at once, and nothing later', () => {
    const seen: number[] = [];
    const c = coalesce((v: number) => seen.push(v), 200);
    c.push(1);
    c.push(2);
    c.flush();
    expect(seen).toEqual([1, 2]);
    vi.advanceTimersByTime(1000);
    c.flush();
    expect(seen).toEqual([1, 2]);
  });
});
