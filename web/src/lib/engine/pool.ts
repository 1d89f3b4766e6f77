/**
 * A pool of share workers: one per core but one, up to a cap (defaultPoolSize). A worker splits or
 * rebuilds chunks and also moves their shares to and from the relays, so each takes a few tasks at once
 * (the network part overlaps; the worker runs the CPU part one task at a time).
 *
 * Workers are retired after moving their part of `retireBudgetBytes` over the network. Why: Chromium keeps a Blob's
 * bytes (every PUT body) in the browser process until the Blob object is garbage-collected, and its GC
 * does not count those bytes, so a long upload piles up sent bodies (measured in Chromium 156: after
 * 1.3 GB of 1 MiB PUTs from one worker, 380 of them, 380 MB, were still held; the same pile-up is reported
 * in jhiesey/stream-http#57 and transloadit/uppy#3183, and `Blob.close()` was removed from the File API,
 * w3c/FileAPI#68). Ending the worker that made them frees them at once (replacing it every 4 chunks kept
 * fewer than 40 alive), and with them the worker's spent response buffers. (The other half of the fix,
 * keeping the workers away from the app's service worker, is in worker-scope.ts.) A retiring worker takes no new task,
 * finishes the ones it has, then ends. Its replacement is a spare started (and given the same `init`)
 * ahead of time, so tasks do not wait for a worker to load; a new spare starts at once.
 *
 * What is held grows with the bytes each live worker has moved, so the budget is the pool's, not each
 * worker's: with `size` workers each is replaced after moving retireBudgetBytes / size, and the memory held
 * is about the same whatever the number of cores. Replacing is not free, so callers retire workers no more
 * often than memory needs: measured in Chromium 156, starting and ending even an empty worker costs about
 * 27 ms of CPU, and a share worker about 45 ms with its first chunk (its code is not yet optimised); at one
 * replacement every 6 chunks that was a quarter of the workers' CPU. Making V8 collect sooner instead
 * (allocating an untouched ArrayBuffer as large as the bodies sent) did not bound the browser's growth:
 * +436 MB with two workers never replaced.
 *
 * `terminate` (also on abort) stops every worker and fails every waiting or running task with AbortError.
 */
import * as Comlink from 'comlink';
import type { ShareWorkerApi } from './share.worker';
import { relaySlotsPerWorker } from './relay-http';

export const MAX_WORKERS = 4;

/**
 * Live workers for a machine with `cores` logical cores: one per core but one, at least one, at most
 * MAX_WORKERS. The core left over is for the rest of the browser, which moves every share too: per byte,
 * Chromium's browser and network processes spend about as much CPU as the share workers (bench:e2e's CPU
 * split). Measured with bench:e2e, (3,5), 256 MiB, on 2 cores, app CPU over the baseline's in the same
 * round: one worker instead of two, with the same pool budget, took retrieving from 1.18-1.57x (3 rounds)
 * to 1.00-1.33x (9 rounds); protecting, in 6 rounds that ran one worker, two and the baseline each, gave
 * 0.87-1.25x with one worker and 0.97-1.22x with two (less with one in 5 rounds; throughput median 0.90x
 * against 0.88x of the baseline); memory did not change. The one worker's thread was busy 15-30% of the time.
 */
export function defaultPoolSize(cores: number): number {
  return Math.max(1, Math.min(MAX_WORKERS, cores - 1));
}

/** A pool's live workers: the size asked for, else defaultPoolSize for this machine's cores. */
function poolSize(size: number | undefined): number {
  return size ?? defaultPoolSize((typeof navigator === 'undefined' ? 0 : navigator.hardwareConcurrency) || 2);
}

/** What the pool needs of a worker; tests give a fake one. */
export interface PoolWorker<Api> {
  api: Api;
  terminate(): void;
}

export interface PoolOptions<Api> {
  /** Number of live workers (default: defaultPoolSize of this machine's cores). */
  size?: number;
  /** Tasks one worker takes at once. */
  tasksPerWorker?: number;
  /**
   * Network bytes the live workers may move between them: each is replaced after moving its share,
   * retireBudgetBytes / size (see above). Infinity keeps workers for good.
   */
  retireBudgetBytes?: number;
  spawn: () => PoolWorker<Api>;
}

interface Slot<Api> {
  worker: PoolWorker<Api>;
  /** The pool's `init` applied to this worker; tasks wait for it. */
  ready: Promise<unknown>;
  running: number;
  moved: number;
  retiring: boolean;
}

const aborted = () => Object.assign(new Error('The operation was cancelled.'), { name: 'AbortError', code: 'INTERNAL' });

export type ShareWorker = Comlink.Remote<ShareWorkerApi>;

/** The pool of share workers the engine uses. */
export function shareWorkerPool(opts: Omit<PoolOptions<ShareWorker>, 'spawn'> = {}): WorkerPool<ShareWorker> {
  const slots = relaySlotsPerWorker(poolSize(opts.size));
  return new WorkerPool({
    ...opts,
    spawn: () => {
      const worker = new Worker(new URL('./share.worker.ts', import.meta.url), { type: 'module', name: 'kofn-share' });
      const api = Comlink.wrap<ShareWorkerApi>(worker);
      // Comlink delivers calls in order, so this comes before the worker's first request to a relay.
      // A worker that fails to start fails the pool's own calls; this one need not say so again.
      api.useRelaySlots(slots).catch(() => undefined);
      return { api, terminate: () => worker.terminate() };
    }
  });
}

export class WorkerPool<Api> {
  readonly #slots: Array<Slot<Api>> = [];
  /** The next replacement, already started (only when workers retire). */
  #spare: Slot<Api> | undefined;
  readonly #waiting: Array<{ take: (slot: Slot<Api>) => void; fail: (err: unknown) => void }> = [];
  readonly #running = new Set<(err: unknown) => void>();
  readonly #spawn: () => PoolWorker<Api>;
  readonly #perWorker: number;
  readonly #retireAfter: number;
  #init: ((api: Api) => Promise<unknown>) | undefined;
  #terminated = false;
  /** Workers started over the pool's life (for tests and the bench). */
  spawned = 0;

  constructor(opts: PoolOptions<Api>) {
    const size = poolSize(opts.size);
    this.#spawn = opts.spawn;
    this.#perWorker = opts.tasksPerWorker ?? 1;
    this.#retireAfter = (opts.retireBudgetBytes ?? Infinity) / size;
    for (let i = 0; i < size; i++) this.#slots.push(this.#start());
    if (Number.isFinite(this.#retireAfter)) this.#spare = this.#start();
  }

  /** Whether terminate() ended the pool (a caller reusing a pool for many files then starts another). */
  get terminated(): boolean {
    return this.#terminated;
  }

  get size(): number {
    return this.#slots.filter((s) => !s.retiring).length;
  }

  #start(): Slot<Api> {
    const worker = this.#spawn();
    this.spawned += 1;
    const slot: Slot<Api> = { worker, ready: Promise.resolve(), running: 0, moved: 0, retiring: false };
    if (this.#init) slot.ready = this.#init(worker.api);
    return slot;
  }

  /** Runs `init` on every live worker now and on every worker started later (the file's parameters). */
  async setInit(init: (api: Api) => Promise<unknown>): Promise<void> {
    if (this.#terminated) throw aborted();
    this.#init = init;
    const all = Promise.all(
      [...this.#slots.filter((s) => !s.retiring), ...(this.#spare ? [this.#spare] : [])].map((s) => {
        s.ready = s.ready.then(() => init(s.worker.api));
        return s.ready;
      })
    );
    // As in run(): a worker terminated while it initialises never answers, so terminate() fails the wait
    // (a file cancelled during its start-up stayed "running" for ever; folder-drop.spec's Cancel found it).
    let fail!: (err: unknown) => void;
    const cancelled = new Promise<never>((_, rej) => (fail = rej));
    this.#running.add(fail);
    try {
      await Promise.race([all, cancelled]);
    } finally {
      this.#running.delete(fail);
    }
  }

  #acquire(): Promise<Slot<Api>> {
    if (this.#terminated) return Promise.reject(aborted());
    let best: Slot<Api> | undefined;
    for (const s of this.#slots) if (!s.retiring && s.running < this.#perWorker && (!best || s.running < best.running)) best = s;
    if (best) {
      best.running += 1;
      return Promise.resolve(best);
    }
    return new Promise((take, fail) => this.#waiting.push({ take, fail }));
  }

  #release(slot: Slot<Api>, moved: number): void {
    if (this.#terminated) return;
    slot.running -= 1;
    slot.moved += moved;
    if (!slot.retiring && slot.moved >= this.#retireAfter) {
      slot.retiring = true;
      this.#slots.push(this.#spare ?? this.#start());
      this.#spare = this.#start();
    }
    if (slot.retiring && slot.running === 0) {
      slot.worker.terminate();
      this.#slots.splice(this.#slots.indexOf(slot), 1);
    }
    // Hand free capacity to waiting tasks.
    while (this.#waiting.length > 0) {
      const free = this.#slots.find((s) => !s.retiring && s.running < this.#perWorker);
      if (!free) break;
      free.running += 1;
      this.#waiting.shift()!.take(free);
    }
  }

  /**
   * Runs one task on a worker. `moved` is the number of network bytes the task moves (counted toward the
   * worker's retirement); give 0 for tasks that stay off the network.
   */
  async run<R extends Promise<unknown>>(task: (api: Api) => R, moved = 0): Promise<Awaited<R>> {
    const slot = await this.#acquire();
    let fail!: (err: unknown) => void;
    // A terminated worker never answers: terminate() fails the task instead of leaving it hanging.
    const cancelled = new Promise<never>((_, rej) => (fail = rej));
    this.#running.add(fail);
    try {
      const result = (async () => {
        await slot.ready;
        return task(slot.worker.api);
      })();
      return await Promise.race([result, cancelled]);
    } finally {
      this.#running.delete(fail);
      this.#release(slot, moved);
    }
  }

  terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    for (const s of this.#slots) s.worker.terminate();
    this.#spare?.worker.terminate();
    this.#slots.length = 0;
    this.#spare = undefined;
    for (const w of this.#waiting.splice(0)) w.fail(aborted());
    for (const fail of this.#running) fail(aborted());
  }
}
