/**
 * Splitting and rebuilding on every core (issue #20: "uses all cores for splitting (worker_threads)"):
 * a few worker threads (codec-worker.ts), each with its own encoder or decoder of the protocol core, given
 * chunks round-robin by whoever has the fewest in hand. The caller bounds the chunks in flight, so memory
 * stays flat: a worker holds only the chunks it was given.
 *
 * Size: workerCount() below; $KOFN_WORKERS=0 runs the codec on the main thread (no pool is made). Workers are unref'd: a pool left open never keeps the process alive.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { KofnError, type ErrorCode } from '../errors.js';
import type { FileMode } from '../share-sizes.js';
import type { TreeManifest } from '../layout.js';

export type WorkerRequest =
  | { id: number; op: 'initEncoder'; k: number; xs: number[]; fileId: string; epoch: number; mode?: FileMode; tree?: TreeManifest; macKey: Uint8Array<ArrayBuffer> }
  | { id: number; op: 'encode'; index: number; final: boolean; data: Uint8Array<ArrayBuffer>; into?: Array<Uint8Array<ArrayBuffer>> }
  | { id: number; op: 'initDecoder'; fileId: string; epoch: number; k: number; shares: Uint8Array[] }
  | { id: number; op: 'decode'; fileId: string; index: number; epoch: number; k: number; shares: Uint8Array[]; into?: ArrayBuffer };

/** A request before its id is given (Omit distributed over the union). */
type Unsent = WorkerRequest extends infer T ? (T extends unknown ? Omit<T, 'id'> : never) : never;

export interface WorkerReply {
  id: number;
  error?: { code: string; message: string };
  shares?: Array<Uint8Array<ArrayBuffer>>;
  data?: Uint8Array<ArrayBuffer>;
  flags?: number;
  bad?: number[];
}

/**
 * Workers to use: $KOFN_WORKERS (0 = none, on the main thread), else one per core but the main thread's
 * (it reads the file and drives every request), at least 1 and at most MAX_WORKERS. Why the cap: each
 * worker costs about 15-20 MiB of RSS (its isolate, its WASM engine, its chunks in flight) and the
 * 200 MB bound holds the whole process; measured on this 2-core machine, 256 MiB through pipes: peak RSS
 * 178 MiB protect / 153 MiB retrieve with 1 worker, 198 / 202 MiB with 2 (over the bound). (3,5) splits at
 * several hundred MB/s per core (npm run bench -w shared), so 3 workers outrun any network here.
 */
export const MAX_WORKERS = 3;
/** A worker's young generation (V8 resourceLimits.maxYoungGenerationSizeMb). */
const YOUNG_MB = 8;
export function workerCount(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): number {
  const v = env.KOFN_WORKERS;
  if (v !== undefined && /^\d{1,2}$/.test(v)) return Number(v);
  return Math.min(MAX_WORKERS, Math.max(1, cores - 1));
}

interface Slot {
  worker: Worker;
  busy: number;
}

export class CodecPool {
  readonly #slots: Slot[] = [];
  readonly #waiting = new Map<number, { slot: Slot; res: (r: WorkerReply) => void; rej: (e: unknown) => void }>();
  #next = 1;
  #closed = false;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      // A small young generation: a worker's live data is a few chunks, and V8's default (semi-spaces that grow to
      // 16 MiB each) lets its garbage stand in RSS; the pool's bound is the whole process's (issue #20, < 200 MB).
      const worker = new Worker(new URL('./codec-worker.js', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_MB } });
      worker.unref();
      const slot: Slot = { worker, busy: 0 };
      worker.on('message', (reply: WorkerReply) => {
        const w = this.#waiting.get(reply.id);
        if (!w) return;
        this.#waiting.delete(reply.id);
        w.slot.busy -= 1;
        if (reply.error) w.rej(new KofnError(reply.error.code as ErrorCode, reply.error.message));
        else w.res(reply);
      });
      // A worker that dies (out of memory, a bug) fails what it held, never hangs the caller.
      const fail = (err: unknown) => {
        for (const [id, w] of this.#waiting) {
          if (w.slot !== slot) continue;
          this.#waiting.delete(id);
          w.rej(this.#closed ? new KofnError('CANCELLED', 'Cancelled.') : new KofnError('INTERNAL', `A codec worker stopped: ${err instanceof Error ? err.message : String(err)}`));
        }
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`exit ${code}`)));
      this.#slots.push(slot);
    }
  }

  get size(): number {
    return this.#slots.length;
  }

  #send(slot: Slot, req: Unsent, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    const id = this.#next++;
    slot.busy += 1;
    return new Promise((res, rej) => {
      this.#waiting.set(id, { slot, res, rej });
      slot.worker.postMessage({ ...req, id }, transfer);
    });
  }

  /** The least busy worker (ties: the first). */
  #pick(): Slot {
    return this.#slots.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  /** Sets every worker up with the file's encoder. The MAC key is copied to each, and wiped there after import. */
  async initEncoder(opts: { k: number; xs: number[]; fileId: string; epoch: number; mode?: FileMode; tree?: TreeManifest }, macKey: Uint8Array<ArrayBuffer>): Promise<void> {
    await Promise.all(this.#slots.map((s) => this.#send(s, { op: 'initEncoder', ...opts, macKey: Uint8Array.from(macKey) })));
  }

  /**
   * The n share chunks of data chunk `index`. `data` and `into` are moved to the worker (unusable here until
   * they come back): the answer gives back `data` (zeroed) and the share chunks as views of `into`'s buffers.
   */
  async encode(
    index: number,
    final: boolean,
    data: Uint8Array<ArrayBuffer>,
    into?: Array<Uint8Array<ArrayBuffer>>
  ): Promise<{ shares: Array<Uint8Array<ArrayBuffer>>; data: Uint8Array<ArrayBuffer> }> {
    const transfer = [data.buffer, ...(into ?? []).map((b) => b.buffer)];
    const r = await this.#send(this.#pick(), { op: 'encode', index, final, data, ...(into ? { into } : {}) }, transfer);
    if (!r.shares || !r.data) throw new KofnError('INTERNAL', 'A codec worker answered without the share chunks.');
    return { shares: r.shares, data: r.data };
  }

  /** Sets every worker up to rebuild the file's data chunks, from the shares of its metadata chunk. */
  async initDecoder(opts: { fileId: string; epoch: number; k: number }, shares: Uint8Array[]): Promise<void> {
    await Promise.all(this.#slots.map((s) => this.#send(s, { op: 'initDecoder', ...opts, shares })));
  }

  /**
   * Rebuilds and authenticates data chunk `index`. `into` and each share that has a buffer of its own (what
   * the relay client answers) are moved to the worker, so the caller must not use them after; a share that
   * is a view into a larger buffer is copied. The answer gives the shares back (`shares`, moved back) for
   * the caller to read the next chunks into.
   */
  async decode(
    opts: { fileId: string; index: number; epoch: number; k: number },
    shares: Uint8Array[],
    into?: ArrayBuffer
  ): Promise<{ data: Uint8Array<ArrayBuffer>; flags: number; bad: number[]; shares: Array<Uint8Array<ArrayBuffer>> }> {
    const own = shares.filter((x) => x.byteOffset === 0 && x.byteLength === x.buffer.byteLength && x.buffer instanceof ArrayBuffer).map((x) => x.buffer as ArrayBuffer);
    const transfer = [...new Set([...own, ...(into ? [into] : [])])];
    const r = await this.#send(this.#pick(), { op: 'decode', ...opts, shares, ...(into ? { into } : {}) }, transfer);
    if (!r.data || r.flags === undefined || !r.bad) throw new KofnError('INTERNAL', 'A codec worker answered without the chunk.');
    return { data: r.data, flags: r.flags, bad: r.bad, shares: r.shares ?? [] };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
