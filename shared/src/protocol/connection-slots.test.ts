/**
 * ConnectionSlots: at most `size` holders, first come first served, an abort while waiting holds nothing,
 * a release called twice frees one slot. The RelayClient's use of it is in relay-client.test.ts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConnectionSlots } from './connection-slots.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('ConnectionSlots', () => {
  it('never lets more than its size hold a slot, whatever the order of acquires and releases', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }), async (size, steps) => {
        const slots = new ConnectionSlots(size);
        const held: Array<() => void> = [];
        let waiting = 0;
        for (const acquire of steps) {
          if (acquire) {
            waiting += 1;
            void slots.acquire().then((release) => {
              waiting -= 1;
              held.push(release);
            });
          } else held.shift()?.();
          await tick();
          expect(slots.inUse).toBeLessThanOrEqual(size);
          expect(held.length).toBe(slots.inUse);
          // A waiter is left only while every slot is held.
          if (waiting > 0) expect(slots.inUse).toBe(size);
        }
      })
    );
  });

  it('hands slots out in the order they were asked for', async () => {
    const slots = new ConnectionSlots(1);
    const first = await slots.acquire();
    const order: number[] = [];
    const a = slots.acquire().then((r) => (order.push(1), r));
    const b = slots.acquire().then((r) => (order.push(2), r));
    first();
    (await a)();
    (await b)();
    expect(order).toEqual([1, 2]);
    expect(slots.inUse).toBe(0);
  });

  it('an abort while waiting rejects with its reason and takes no slot; an aborted signal is refused at once', async () => {
    const slots = new ConnectionSlots(1);
    const held = await slots.acquire();
    const stop = new AbortController();
    const waiting = slots.acquire(stop.signal);
    stop.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    await expect(slots.acquire(stop.signal)).rejects.toThrow('cancelled');
    held();
    expect(slots.inUse).toBe(0);
    // The aborted waiter is gone: the next acquire gets the slot at once.
    (await slots.acquire())();
  });

  it('a release called twice frees one slot only', async () => {
    const slots = new ConnectionSlots(2);
    const a = await slots.acquire();
    await slots.acquire();
    a();
    a();
    expect(slots.inUse).toBe(1);
  });

  it('refuses a size that is not a whole number of at least 1', () => {
    for (const size of [0, -1, 1.5, Number.NaN]) expect(() => new ConnectionSlots(size)).toThrow(RangeError);
  });
});
