/**
 * Many small files in few requests (issue #14, "Many small files": one reserve + upload + commit per file
 * ran at 25-37 files/s): reserve up to MAX_BATCH_FILES files with `POST /api/files/batch`, split and PUT
 * every file's share chunks straight to its relays with the shared RelayClient (several files at once),
 * then commit them with `POST /api/files/commit`. Each file is split with its own MAC key exactly as a
 * single protect does (codec.ts ShareEncoder), so a batch stores the same bytes the browser would.
 *
 * Whole files are held in memory: this path is for small files (the CLI sends big ones one by one).
 * A file that fails (its reservation refused, a relay error, a commit mismatch) is reported with its
 * KofnError code and its reservation deleted; the others go on.
 */
import { KofnError, type ErrorCode } from '../errors.js';
import { ShareEncoder, newMacKey } from '../codec.js';
import { fileIdFromHex } from '../ids.js';
import { digestRoot } from '../digest-root.js';
import { RelayClient } from './relay-client.js';
import type { BatchCommits, BatchReservations, FreshTokens, Reservation } from './api-types.js';

/** The coordinator's JSON API as the CLI's Coordinator (cli/coordinator.ts) and tests' adapters offer it. */
export interface CoordinatorApi {
  call<T>(method: 'GET' | 'POST' | 'DELETE' | 'PATCH', path: string, body?: unknown): Promise<T>;
}

/** The coordinator's bounds (web/src/lib/server/batch.ts): at most this many files and bytes per request. */
export const MAX_BATCH_FILES = 1000;
export const MAX_BATCH_BODY = 1024 * 1024;

export interface SmallFile {
  name: string;
  data: Uint8Array;
  type?: string;
}

export interface ProtectManyOptions {
  k: number;
  relays?: string[];
  /** Files split and uploading at once (default 8: enough to keep n relays busy with 4 KiB files). */
  parallel?: number;
  signal?: AbortSignal;
  /** Files a run reserves, uploads and commits together (default RUN_FILES; tests use fewer). */
  runFiles?: number;
  /** Called as each file is committed or fails. */
  onFile?: (result: ProtectedOrFailed) => void;
}

export type ProtectedOrFailed = { name: string; ok: true; fileId: string; size: number; k: number; n: number } | { name: string; ok: false; code: ErrorCode; message: string };

/**
 * Files a run reserves, uploads and commits together (issue #14). One run of 1,000 left the coordinator's
 * reserve and commit (each several seconds for 1,000 files on a loaded machine) outside the uploads; in runs
 * of 250 the next run's reservation and the previous run's commit go on while a run uploads, so only the
 * first reservation and the last commit, of 250 files each, are waited for.
 */
export const RUN_FILES = 250;

/**
 * Splits `items` into runs that fit one request each: at most `maxFiles` (MAX_BATCH_FILES), and at most
 * `maxBytes` of JSON.
 */
export function batches<T>(items: readonly T[], json: (item: T) => string, maxBytes = MAX_BATCH_BODY - 1024, maxFiles = MAX_BATCH_FILES): T[][] {
  const out: T[][] = [];
  let run: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = new TextEncoder().encode(json(item)).length + 1;
    if (run.length > 0 && (run.length >= maxFiles || bytes + size > maxBytes)) {
      out.push(run);
      run = [];
      bytes = 0;
    }
    run.push(item);
    bytes += size;
  }
  if (run.length) out.push(run);
  return out;
}

/** Splits and PUTs one reserved file; answers the digest root of each relay, by relay id. */
export async function uploadSmall(api: CoordinatorApi, r: Reservation, file: SmallFile, signal?: AbortSignal): Promise<Record<string, string>> {
  const tokens = new Map(r.placements.map((p) => [p.relayId, p.token]));
  const clients = r.placements.map(
    (p) =>
      new RelayClient(
        { id: p.relayId, name: p.name, url: p.url },
        {
          token: async (_op, refresh) => {
            if (refresh) for (const t of (await api.call<FreshTokens>('POST', `/api/files/${r.fileId}/tokens`, { op: 'put' })).tokens) tokens.set(t.relayId, t.token);
            return tokens.get(p.relayId)!;
          }
        }
      )
  );
  const macKey = newMacKey();
  const encoder = await ShareEncoder.create({ k: r.k, xs: r.placements.map((p) => p.x), fileId: fileIdFromHex(r.fileId), epoch: r.epoch }, macKey);
  const digests: string[][] = r.placements.map(() => []);
  const store = async (index: number, shares: Array<Uint8Array<ArrayBuffer>>) => {
    const answers = await Promise.all(clients.map((c, j) => c.put(r.fileId, index, shares[j]!, signal)));
    answers.forEach((a, j) => (digests[j]![index] = a.digest));
  };
  try {
    await store(
      0,
      await encoder.encodeMetadata({
        name: file.name,
        size: file.data.length,
        type: file.type ?? 'application/octet-stream',
        chunkSize: r.chunkSize,
        chunkCount: r.chunkCount,
        createdAt: Date.now(),
        macKey
      })
    );
  } finally {
    macKey.fill(0);
  }
  for (let i = 1; i <= r.chunkCount; i++) {
    const part = file.data.subarray((i - 1) * r.chunkSize, Math.min(file.data.length, i * r.chunkSize));
    await store(i, await encoder.encodeData(i, i === r.chunkCount, part));
  }
  const roots: Record<string, string> = {};
  for (const [j, p] of r.placements.entries()) roots[p.relayId] = await digestRoot(digests[j]!);
  return roots;
}

/** Runs `task` over `items` with at most `parallel` at once. */
async function pool<T>(items: readonly T[], parallel: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      while (next < items.length) await task(items[next++]!);
    })
  );
}

/**
 * Protects many small files: runs of RUN_FILES, each reserved with one request and committed with one,
 * pipelined so that while run i uploads, run i+1 is being reserved and run i-1 committed. A request that
 * fails as a whole (a reservation refused for the batch, the coordinator unreachable) ends protectMany with
 * its error, as before; what it reserved and did not commit is left to the coordinator's sweep.
 */
export async function protectMany(api: CoordinatorApi, list: readonly SmallFile[], opts: ProtectManyOptions): Promise<ProtectedOrFailed[]> {
  const results = new Array<ProtectedOrFailed>(list.length);
  const done = (i: number, r: ProtectedOrFailed) => {
    results[i] = r;
    opts.onFile?.(r);
  };
  const drop = (fileId: string) => api.call('DELETE', `/api/files/${fileId}`).catch(() => undefined);
  const asked = list.map((f, i) => ({ i, item: { name: f.name, size: f.data.length, type: f.type ?? 'application/octet-stream', k: opts.k, ...(opts.relays ? { relays: opts.relays } : {}) } }));
  const runs = batches(asked, (a) => JSON.stringify(a.item), undefined, Math.min(MAX_BATCH_FILES, opts.runFiles ?? RUN_FILES));
  const reserve = (run: (typeof runs)[number]) => {
    const p = api.call<BatchReservations>('POST', '/api/files/batch', { files: run.map((a) => a.item) });
    // Awaited when its run starts; until then a failure must not count as unhandled.
    p.catch(() => undefined);
    return p;
  };
  const commit = async (toCommit: Array<{ i: number; fileId: string; k: number; n: number; roots: Record<string, string> }>) => {
    for (const part of batches(toCommit, (c) => JSON.stringify({ fileId: c.fileId, roots: c.roots }))) {
      const { results: committed } = await api.call<BatchCommits>('POST', '/api/files/commit', { files: part.map((c) => ({ fileId: c.fileId, roots: c.roots })) });
      for (const [j, x] of committed.entries()) {
        const c = part[j]!;
        if (x.ok) done(c.i, { name: list[c.i]!.name, ok: true, fileId: c.fileId, size: list[c.i]!.data.length, k: c.k, n: c.n });
        else {
          await drop(c.fileId);
          done(c.i, { name: list[c.i]!.name, ok: false, code: x.error.code, message: x.error.message });
        }
      }
    }
  };
  let committing: Promise<void> = Promise.resolve();
  try {
    await pipeline();
  } catch (err) {
    // Nothing of this call goes on after it returns: the commits already asked for end first.
    await committing.catch(() => undefined);
    throw err;
  }
  await committing;
  return results;

  async function pipeline(): Promise<void> {
    let next: Promise<BatchReservations> = runs.length > 0 ? reserve(runs[0]!) : Promise.resolve({ results: [] });
    for (const [r, run] of runs.entries()) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const { results: reserved } = await next;
      if (r + 1 < runs.length) next = reserve(runs[r + 1]!);
      const toCommit: Array<{ i: number; fileId: string; k: number; n: number; roots: Record<string, string> }> = [];
      const uploads: Array<{ i: number; r: Reservation }> = [];
      reserved.forEach((x, j) => {
        const i = run[j]!.i;
        if (x.ok) uploads.push({ i, r: x.reservation });
        else done(i, { name: list[i]!.name, ok: false, code: x.error.code, message: x.error.message });
      });
      await pool(uploads, opts.parallel ?? 8, async ({ i, r }) => {
        try {
          toCommit.push({ i, fileId: r.fileId, k: r.k, n: r.n, roots: await uploadSmall(api, r, list[i]!, opts.signal) });
        } catch (err) {
          // Leave nothing behind: the coordinator's delete-file job removes what relays already stored.
          await drop(r.fileId);
          if (!(err instanceof KofnError)) throw err;
          done(i, { name: list[i]!.name, ok: false, code: err.code, message: err.message });
        }
      });
      // One commit at a time, in run order; the next run uploads meanwhile. A failed commit request ends
      // the whole call below, after the run under way (its files then wait for the sweep).
      committing = committing.then(() => commit(toCommit));
      committing.catch(() => undefined);
    }
  }
}
