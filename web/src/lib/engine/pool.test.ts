import { describe, expect, it } from 'vitest';
import { WorkerPool, defaultPoolSize, type PoolWorker } from './pool';

/** A stand-in worker: records its init and tasks; tasks finish when the test says so. */
class FakeWorker {
  static made: FakeWorker[] = [];
  readonly id = FakeWorker.made.length;
  terminated = false;
  inits: string[] = [];
  running = 0;
  constructor() {
    FakeWorker.made.push(this);
  }
}

interface Api {
  worker: FakeWorker;
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

function pool(opts: { size: number; tasksPerWorker?: number; retireBudgetBytes?: number }) {
  FakeWorker.made = [];
  return new WorkerPool<Api>({
    ...opts,
    spawn: (): PoolWorker<Api> => {
      const worker = new FakeWorker();
      return { api: { worker }, terminate: () => (worker.terminated = true) };
    }
  });
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('WorkerPool', () => {
  it('spreads tasks over workers up to tasksPerWorker each, then queues', async () => {
    const p = pool({ size: 2, tasksPerWorker: 2 });
    const g = gate();
    const seen: number[] = [];
    const tasks = Array.from({ length: 5 }, () =>
      p.run(async ({ worker }) => {
        seen.push(worker.id);
        worker.running += 1;
        await g.promise;
        worker.running -= 1;
      })
    );
    await tick();
    expect(seen.sort()).toEqual([0, 0, 1, 1]);
    g.open();
    await Promise.all(tasks);
    expect(seen).toHaveLength(5);
  });

  it('replaces a worker once it has moved retireBudgetBytes, after its running tasks end, by a spare started ahead', async () => {
    const p = pool({ size: 1, tasksPerWorker: 2, retireBudgetBytes: 10 });
    expect(FakeWorker.made).toHaveLength(2); // the worker and its spare
    await p.setInit(async ({ worker }) => worker.inits.push('file-1'));
    const [old, spare] = FakeWorker.made as [FakeWorker, FakeWorker];
    expect(spare.inits).toEqual(['file-1']); // ready before it is needed
    const slow = gate();
    const first = p.run(async () => slow.promise, 0);
    await p.run(async () => undefined, 10); // reaches the budget while `first` still runs
    expect(FakeWorker.made).toHaveLength(3); // a new spare
    expect(old.terminated).toBe(false); // still has a task
    // New tasks go to the former spare.
    const on = await p.run(async ({ worker }) => worker, 1);
    expect(on).toBe(spare);
    expect(FakeWorker.made[2]!.inits).toEqual(['file-1']);
    slow.open();
    await first;
    expect(old.terminated).toBe(true);
    expect(p.spawned).toBe(3);
    expect(p.size).toBe(1);
  });

  it('divides the retirement budget between the live workers', async () => {
    const p = pool({ size: 2, tasksPerWorker: 1, retireBudgetBytes: 20 });
    expect(FakeWorker.made).toHaveLength(3); // two workers and a spare
    const first = await p.run(async ({ worker }) => worker, 9);
    expect(first.terminated).toBe(false); // 9 of its 10
    const again = await p.run(async ({ worker }) => worker, 1);
    expect(again).toBe(first); // the least busy worker with the lowest position takes it
    expect(first.terminated).toBe(true); // 10 of its 10: replaced, though the pool moved only half its budget
    expect(FakeWorker.made).toHaveLength(4);
    expect(p.size).toBe(2);
  });

  it('leaves one core to the rest of the browser, with at least one worker and at most MAX_WORKERS', () => {
    expect([1, 2, 3, 4, 8, 64].map(defaultPoolSize)).toEqual([1, 1, 2, 3, 4, 4]);
  });

  it('keeps no spare when workers never retire', () => {
    pool({ size: 2 });
    expect(FakeWorker.made).toHaveLength(2);
  });

  it('makes tasks wait for init, on workers present and started later', async () => {
    const p = pool({ size: 2 });
    const g = gate();
    const init = p.setInit(async ({ worker }) => {
      await g.promise;
      worker.inits.push('ready');
    });
    let ran = false;
    const task = p.run(async ({ worker }) => {
      ran = true;
      return worker.inits.length;
    });
    await tick();
    expect(ran).toBe(false);
    g.open();
    await init;
    expect(await task).toBe(1);
  });

  it('terminate ends every worker and fails running and waiting tasks instead of leaving them hanging', async () => {
    const p = pool({ size: 1, tasksPerWorker: 1 });
    const never = new Promise<void>(() => undefined);
    const running = p.run(async () => never);
    const waiting = p.run(async () => undefined);
    await tick();
    p.terminate();
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    await expect(p.run(async () => undefined)).rejects.toMatchObject({ name: 'AbortError' });
    expect(FakeWorker.made.every((w) => w.terminated)).toBe(true);
  });

  it('terminate fails a wait for init that a terminated worker will never finish, and a later setInit', async () => {
    const p = pool({ size: 1 });
    const init = p.setInit(() => new Promise<void>(() => undefined));
    await tick();
    p.terminate();
    await expect(init).rejects.toMatchObject({ name: 'AbortError' });
    await expect(p.setInit(async () => undefined)).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('passes a task failure through and keeps the worker', async () => {
    const p = pool({ size: 1 });
    // A worker's failure crosses Comlink as a plain object (share.worker.ts, guarded), not an Error.
    const failure: unknown = { code: 'AUTH_FAILED' };
    await expect(p.run(async () => Promise.reject(failure))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    expect(await p.run(async ({ worker }) => worker.id)).toBe(0);
    expect(p.spawned).toBe(1);
  });
});
