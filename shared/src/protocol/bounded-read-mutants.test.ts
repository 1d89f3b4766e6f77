/**
 * readBounded (bounded-read.ts) exactly (issue #24): no body, a body of exactly the bound and one byte past
 * it (the stream cancelled, the caller's error thrown, a failing cancel ignored), progress once per piece,
 * one piece that fills its own buffer answered as it is, and every other shape copied into one buffer.
 */
import { describe, expect, it } from 'vitest';
import { readBounded } from './bounded-read.js';

class TooLarge extends Error {}
const tooLarge = () => new TooLarge('too large');

/** A stream of `pieces`, recording whether it was cancelled; `cancelFails` makes cancel reject. */
function streamOf(pieces: Uint8Array[], cancelFails = false) {
  const seen = { cancelled: false, pulled: 0 };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = pieces[seen.pulled++];
      if (next === undefined) controller.close();
      else controller.enqueue(next);
    },
    cancel() {
      seen.cancelled = true;
      if (cancelFails) throw new Error('cancel failed');
    }
  });
  return { body, seen };
}

const bytes = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) % 251);

describe('readBounded', () => {
  it('answers an empty array for no body, and for a body with no bytes', async () => {
    const none = await readBounded(null, 10, tooLarge);
    expect(none).toBeInstanceOf(Uint8Array);
    expect(none.byteLength).toBe(0);
    const empty = await readBounded(streamOf([]).body, 0, tooLarge);
    expect(empty.byteLength).toBe(0);
  });

  it('reads a body of exactly the bound, in several pieces, in order, reporting progress once per piece', async () => {
    const pieces = [bytes(3), bytes(4, 3), bytes(5, 7)];
    let progress = 0;
    const { body, seen } = streamOf(pieces);
    const out = await readBounded(body, 12, tooLarge, () => progress++);
    expect([...out]).toEqual([...bytes(12)]);
    expect(out.buffer.byteLength).toBe(12);
    expect(progress).toBe(3);
    expect(seen.cancelled).toBe(false);
  });

  it('throws the caller\u2019s error one byte past the bound, cancelling the stream and reading no further', async () => {
    const { body, seen } = streamOf([bytes(6), bytes(7), bytes(100)]);
    let progress = 0;
    await expect(readBounded(body, 12, tooLarge, () => progress++)).rejects.toBeInstanceOf(TooLarge);
    expect(seen.cancelled).toBe(true);
    expect(seen.pulled).toBeLessThanOrEqual(3);
    expect(progress).toBe(2);
    // A stream whose cancel fails still ends in the caller's error.
    const failing = streamOf([bytes(13)], true);
    await expect(readBounded(failing.body, 12, tooLarge)).rejects.toBeInstanceOf(TooLarge);
    expect(failing.seen.cancelled).toBe(true);
  });

  it('answers one piece that fills its own buffer as it is, and copies a piece that is a view into a larger buffer', async () => {
    const whole = bytes(8);
    expect(await readBounded(streamOf([whole]).body, 8, tooLarge)).toBe(whole);

    const big = bytes(32);
    for (const view of [big.subarray(4, 12), big.subarray(0, 8)]) {
      const out = await readBounded(streamOf([view]).body, 8, tooLarge);
      expect(out).not.toBe(view);
      expect(out.buffer).not.toBe(big.buffer);
      expect(out.byteOffset).toBe(0);
      expect(out.buffer.byteLength).toBe(8);
      expect([...out]).toEqual([...view]);
    }
    // Two pieces that each fill their own buffer: one new buffer holding both.
    const [a, b] = [bytes(2), bytes(3, 2)];
    const joined = await readBounded(streamOf([a, b]).body, 5, tooLarge);
    expect(joined).not.toBe(a);
    expect([...joined]).toEqual([...bytes(5)]);
  });
});
