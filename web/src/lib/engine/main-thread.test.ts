import { describe, expect, it } from 'vitest';
import { totalSize, yieldToMain } from './main-thread';

describe('totalSize', () => {
  it('sums the sizes of every file, none and many', async () => {
    expect(await totalSize([])).toBe(0);
    const files = Array.from({ length: 2500 }, (_, i) => new File([new Uint8Array(i % 7)], `f${i}`));
    expect(await totalSize(files)).toBe(files.reduce((s, f) => s + f.size, 0));
  });

  it('gives the main thread back during a long sum', async () => {
    // Each size read is made slow (as Chromium's first read of a picked file's size is): a timer queued
    // before the sum must run before it ends, which it cannot unless the loop yields.
    const slow = Array.from({ length: 40 }, () => {
      const f = new File([new Uint8Array(3)], 'slow');
      Object.defineProperty(f, 'size', {
        get() {
          const until = performance.now() + 2;
          while (performance.now() < until);
          return 3;
        }
      });
      return f;
    });
    let ranDuring = false;
    setTimeout(() => (ranDuring = true), 0);
    const sum = await totalSize(slow);
    expect(sum).toBe(120);
    expect(ranDuring).toBe(true);
  });

  it('yieldToMain resolves', async () => {
    await expect(yieldToMain()).resolves.toBeUndefined();
  });
});
