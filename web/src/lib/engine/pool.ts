/**
 * A pool of share workers, one per core up to a cap. Each worker runs one task at a time; tasks queue.
 * `terminate` (also on abort) stops every worker at once.
 */
import * as Comlink from 'comlink';
import type { ShareWorkerApi } from './share.worker';

export const MAX_WORKERS = 4;

interface Slot {
  worker: Worker;
  api: Comlink.Remote<ShareWorkerApi>;
  busy: boolean;
}

export class WorkerPool {
  readonly #slots: Slot[];
  readonly #waiting: Array<(slot: Slot) => void> = [];
  #terminated = false;

  constructor(size = Math.max(1, Math.min(MAX_WORKERS, navigator.hardwareConcurrency || 2))) {
    this.#slots = Array.from({ length: size }, () => {
      const worker = new Worker(new URL('./share.worker.ts', import.meta.url), { type: 'module', name: 'kofn-share' });
      return { worker, api: Comlink.wrap<ShareWorkerApi>(worker), busy: false };
    });
  }

  get size(): number {
    return this.#slots.length;
  }

  #acquire(): Promise<Slot> {
    const free = this.#slots.find((s) => !s.busy);
    if (free) {
      free.busy = true;
      return Promise.resolve(free);
    }
    return new Promise((res) => this.#waiting.push(res));
  }

  #release(slot: Slot): void {
    const next = this.#waiting.shift();
    if (next) next(slot);
    else slot.busy = false;
  }

  async run<T>(task: (api: Comlink.Remote<ShareWorkerApi>) => Promise<T>): Promise<T> {
    if (this.#terminated) throw { name: 'AbortError', code: 'INTERNAL', message: 'The operation was cancelled.' };
    const slot = await this.#acquire();
    try {
      return await task(slot.api);
    } finally {
      this.#release(slot);
    }
  }

  /** Runs a task on every worker (e.g. giving each the file's parameters). */
  async each(task: (api: Comlink.Remote<ShareWorkerApi>) => Promise<unknown>): Promise<void> {
    await Promise.all(this.#slots.map((s) => task(s.api)));
  }

  terminate(): void {
    this.#terminated = true;
    for (const s of this.#slots) s.worker.terminate();
  }
}
