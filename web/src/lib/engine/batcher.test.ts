import { describe, expect, it } from 'vitest';
import { Batcher, type ItemResult } from './batcher';

/** A send whose batches are recorded and answered only when the test says so. */
function controlled() {
  const sent: number[][] = [];
  const answer: Array<(r: Array<ItemResult<string>>) => void> = [];
  const fail: Array<(e: unknown) => void> = [];
  const send = (items: number[]) =>
    new Promise<Array<ItemResult<string>>>((res, rej) => {
      sent.push(items);
      answer.push(res);
      fail.push(rej);
    });
  return { send, sent, answer, fail };
}
const tick = () => new Promise((r) => setTimeout(r, 0));
const echo = (items: number[]): Array<ItemResult<string>> => items.map((i) => (i % 2 ? { ok: true, value: `v${i}` } : { ok: false, error: new Error(`e${i}`) }));

describe('Batcher', () => {
  it('sends the first request alone at once and gathers those made meanwhile into the next batch', async () => {
    const c = controlled();
    const b = new Batcher(c.send, 10);
    const first = b.call(1);
    expect(c.sent).toEqual([[1]]);
    const later = [3, 5, 7].map((i) => b.call(i));
    expect(c.sent).toHaveLength(1);
    c.answer[0]!(echo([1]));
    await expect(first).resolves.toBe('v1');
    await tick();
    expect(c.sent).toEqual([[1], [3, 5, 7]]);
    c.answer[1]!(echo([3, 5, 7]));
    await expect(Promise.all(later)).resolves.toEqual(['v3', 'v5', 'v7']);
  });

  it('gives each caller its own item failure, and splits a queue longer than max', async () => {
    const c = controlled();
    const b = new Batcher(c.send, 2);
    const all = [1, 2, 3, 4, 5].map((i) =>
      b.call(i).then(
        (v) => v,
        (e: unknown) => (e as Error).message
      )
    );
    expect(c.sent).toEqual([[1]]);
    c.answer[0]!(echo([1]));
    await tick();
    expect(c.sent[1]).toEqual([2, 3]);
    c.answer[1]!(echo([2, 3]));
    await tick();
    expect(c.sent[2]).toEqual([4, 5]);
    c.answer[2]!(echo([4, 5]));
    await expect(Promise.all(all)).resolves.toEqual(['v1', 'e2', 'v3', 'e4', 'v5']);
  });

  it('fails every item of a batch whose request fails, and goes on with the next', async () => {
    const c = controlled();
    const b = new Batcher(c.send, 10);
    const first = b.call(1);
    const second = [3, 5].map((i) => b.call(i));
    c.fail[0]!(new Error('unreachable'));
    await expect(first).rejects.toThrow('unreachable');
    await tick();
    expect(c.sent[1]).toEqual([3, 5]);
    c.answer[1]!(echo([3, 5]));
    await expect(Promise.all(second)).resolves.toEqual(['v3', 'v5']);
  });

  it('fails an item the answer leaves out instead of leaving it waiting', async () => {
    const b = new Batcher<number, string>(async () => [], 10);
    await expect(b.call(1)).rejects.toThrow('fewer results');
  });
});
