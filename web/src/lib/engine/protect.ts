/**
 * Protect one file: reserve with the coordinator, read the File as a stream of chunks, split each in the
 * worker pool, PUT every share chunk to its relay (chunks in flight are bounded, so memory does not grow
 * with the file), then commit with one digest root per relay.
 *
 * Progress is kept in IndexedDB (upload-store.ts): after a reload or a lost connection, `resumeUpload`
 * removes chunks some relays got beyond the last chunk every relay acknowledged (a re-split chunk has new
 * random shares, and shares of one chunk must all come from one split), then continues from there.
 * Cancelling aborts requests, stops the workers and removes the reservation, so nothing stays behind.
 */
import * as Comlink from 'comlink';
import { KofnError, RELAY_FAILURE_CODES, digestRoot, newMacKey, readChunks, withRelayMoved, type ErrorCode, type MetadataRecord, type RelayTimeouts } from '@kofn/shared';
import { ApiError, api } from '$lib/api';
import { Batcher, type ItemResult } from './batcher';
import { MAX_WORKERS, shareWorkerPool, type ShareWorker, type WorkerPool } from './pool';
import { InFlight } from './in-flight';
import { relayClient } from './relay-http';
import { renewer } from './tokens';
import { shareWorkerScopeReady } from './worker-scope';
import type { RelayTarget } from './share.worker';
import { forgetUpload, saveChunksDone, saveUpload, type StoredUpload } from './upload-store';
// Issue #23, compact mode: the per-file dispatch is compact.ts; the hooks here are marked "compact mode".
import { dataShareLength, freshKeyOnRestart, type FileMode } from './compact';
import type { BatchCommits, BatchFailure, BatchReservations, CommitResult, FreshTokens, LayoutRequest, OnNameConflict, RelayReplacement, Reservation } from '@kofn/shared';
// Issue #21 part 2 (federation): groups on other deployments, reserved, filled and committed from this page.
import { encodingTree, hasRemote, remotePutTokens, removeRemoteGroups, reserveRemoteGroups, type RemoteReservation } from './remote-groups';
import { commitRemote } from '$lib/federation-client';
export type { Reservation };

export interface ProtectProgress {
  /** Plaintext bytes whose shares every relay has acknowledged. */
  done: number;
  total: number;
  /** Share bytes acknowledged per relay id (this session). */
  perRelay: Record<string, number>;
}

export interface ProtectOptions {
  signal?: AbortSignal;
  onReserved?: (r: Pick<Reservation, 'fileId' | 'placements'>) => void;
  onProgress?: (p: ProtectProgress) => void;
  /** Time bounds of relay requests (the page has them from the coordinator's KOFN_RELAY_TIMEOUT_*). */
  relayTimeouts?: Partial<RelayTimeouts>;
  /** Issue #18: the folder the file goes in (absent: the root) and what to do if its name is taken there. */
  folderId?: string | null;
  onConflict?: OnNameConflict;
  /** Compact mode (issue #23): 'compact' stores AES-256-GCM + Reed-Solomon fragments (n/k of the file); absent: Shamir. */
  mode?: FileMode;
  /**
   * Issue #18: a live pool (smallFilePool) the caller reuses for small files protected one after another,
   * so each does not start a worker of its own; asked for only by a small file. A file that fails or is
   * cancelled terminates it (a task of it may still be running), and the caller answers another next time.
   */
  pool?: () => WorkerPool<ShareWorker>;
  /** Issue #18: reservation and commit gathered with other files' (coordinatorBatches), for a drop of many files. */
  batches?: CoordinatorBatches;
}

/** Reservations and commits of many files going together (batcher.ts), as one drop's files share them. */
export interface CoordinatorBatches {
  reserve: Batcher<Record<string, unknown>, Reservation>;
  commit: Batcher<{ fileId: string; roots: Record<string, string> }, CommitResult>;
}

/** Items a batch request carries at most: far below the coordinator's 1,000 files and 1 MiB (MAX_BATCH_*). */
const BATCH_ITEMS = 64;

/** A batch item's failure as the single route would have thrown it (the same code and message). */
const itemResult = <T>(r: { ok: true; value: T } | BatchFailure): ItemResult<T> => (r.ok ? r : { ok: false, error: new ApiError(r.error.code, r.error.message, 400) });

/**
 * Batches over `POST /api/files/batch` and `POST /api/files/commit`: the coordinator checks each item as
 * its single-file route does (the same codes, name conflicts, quota) in one request for many files; one
 * reservation and one commit per 4 KiB file cost the coordinator more than the file (issue #18).
 */
export function coordinatorBatches(): CoordinatorBatches {
  return {
    reserve: new Batcher(async (files) => {
      const { results } = await api<BatchReservations>('POST', '/api/files/batch', { files });
      return results.map((r) => itemResult(r.ok ? { ok: true, value: r.reservation } : r));
    }, BATCH_ITEMS),
    commit: new Batcher(async (files) => {
      const { results } = await api<BatchCommits>('POST', '/api/files/commit', { files });
      return results.map((r) => itemResult(r.ok ? { ok: true, value: r.commit } : r));
    }, BATCH_ITEMS)
  };
}

/**
 * A pool for many small files, one after another: one worker, never retired (a small file moves a tiny
 * part of the retirement budget). Starting a share worker costs about 27-45 ms of CPU (pool.ts); for a
 * 4 KiB file that was more than its split and upload.
 */
export function smallFilePool(): WorkerPool<ShareWorker> {
  return shareWorkerPool({ size: 1, tasksPerWorker: IN_FLIGHT, retireBudgetBytes: Infinity });
}

/** Chunks being split or uploaded at once: enough to keep workers and network busy, small for memory. */
const IN_FLIGHT = 4;
/**
 * The share workers are replaced after sending this many bytes between them, which frees the request
 * bodies Chromium keeps for them (pool.ts), and each replacement costs about 45 ms of CPU (pool.ts).
 * Measured with bench:e2e, (3,5), 256 MiB, browser growth over idle, with two workers: 64 MiB +121-183 MB,
 * 128 MiB +187-194 MB, 192 MiB +257-269 MB, never replacing them +1.4 GB; with one worker, 128 MiB gave
 * +185-205 MB. 128 MiB replaces half as often as 64 MiB and leaves room under 300 MB.
 */
const RETIRE_BUDGET_BYTES = 128 * 1024 * 1024;

// A reload or closed tab makes in-flight requests fail; that is not a reason to drop the upload, which the
// next page load resumes.
let unloading = false;
if (typeof window !== 'undefined') {
  window.addEventListener('pagehide', () => (unloading = true));
  window.addEventListener('beforeunload', () => (unloading = true));
}

type TokenOp = 'put' | 'list' | 'delete';

async function tokens(fileId: string, op: TokenOp): Promise<Map<string, string>> {
  const r = await api<FreshTokens>('POST', `/api/files/${fileId}/tokens`, { op });
  return new Map(r.tokens.map((t) => [t.relayId, t.token]));
}

/**
 * Remote groups of uploads running in this page (by home file id): their links sign the calls to the other
 * deployments. Not stored: an upload with a remote group does not resume after a reload (resumeUpload).
 */
const remoteGroupsOf = new Map<string, RemoteReservation[]>();

/** Put tokens of every relay of an upload: the home coordinator's, and each remote group's from its deployment. */
async function putTokens(fileId: string): Promise<Array<{ relayId: string; token: string }>> {
  const remotes = remoteGroupsOf.get(fileId) ?? [];
  const [home, remote] = await Promise.all([api<FreshTokens>('POST', `/api/files/${fileId}/tokens`, { op: 'put' }), remotePutTokens(remotes)]);
  return [...home.tokens, ...remote];
}

export async function protectFile(file: File, opts: ProtectOptions & { k: number; relays?: string[]; layout?: LayoutRequest }): Promise<{ fileId: string }> {
  // ---- federation hook (issue #21 part 2): remote groups' sub-files are reserved first, at their deployments ----
  let layout = opts.layout;
  let remotes: RemoteReservation[] = [];
  if (layout && hasRemote(layout)) ({ layout, remotes } = await reserveRemoteGroups(layout, file.size, opts.signal));
  const subFiles = remotes.map((x) => ({ deployment: x.deployment, fileId: x.reservation.fileId }));
  let r: Reservation;
  try {
    const body = {
      name: file.name,
      size: file.size,
      type: file.type,
      // ---- multi-level hook (issue #21): a layout instead of k and relays ----
      ...(layout ? { layout } : { k: opts.k }),
      ...(opts.relays && !layout ? { relays: opts.relays } : {}),
      ...(opts.folderId ? { folderId: opts.folderId } : {}),
      ...(opts.onConflict ? { onConflict: opts.onConflict } : {}),
      ...(opts.mode && opts.mode !== 'shamir' ? { mode: opts.mode } : {})
    };
    // A file with groups elsewhere reserves alone: its sub-files were reserved for it just above.
    r = opts.batches && remotes.length === 0 ? await opts.batches.reserve.call(body) : await api<Reservation>('POST', '/api/files', body);
  } catch (err) {
    await removeRemoteGroups(subFiles);
    throw err;
  }
  if (remotes.length > 0) return protectWithRemotes(file, r, remotes, subFiles, opts);
  const state: StoredUpload = {
    fileId: r.fileId,
    file,
    ...(r.name !== undefined && r.name !== file.name ? { name: r.name } : {}),
    k: r.k,
    n: r.n,
    chunkSize: r.chunkSize,
    chunkCount: r.chunkCount,
    epoch: r.epoch,
    // Compact mode: the coordinator's record of the mode is what commit checks the share sizes against.
    ...(r.mode === 'compact' ? { mode: r.mode } : {}),
    placements: r.placements.map(({ relayId, name, url, x }) => ({ relayId, name, url, x })),
    macKey: newMacKey(),
    createdAt: Date.now(),
    doneUpTo: -1,
    digests: r.placements.map(() => []),
    ...(r.layout ? { tree: r.layout } : {})
  };
  await saveUpload(state, true);
  return runWithFailover(state, new Map(r.placements.map((p) => [p.relayId, p.token])), opts);
}

/**
 * A tree with remote groups: the encoding tree holds X's relays and x's for each remote group (remote-groups.ts),
 * the upload PUTs those sub-shares to X's relays with X's tokens, and commits at X before committing here.
 */
async function protectWithRemotes(file: File, r: Reservation, remotes: RemoteReservation[], subFiles: NonNullable<StoredUpload['remoteSubFiles']>, opts: ProtectOptions): Promise<{ fileId: string }> {
  // Both deployments cut the file the same way (the same code); a sub-file cut otherwise could never commit.
  if (!r.layout || remotes.some((x) => x.reservation.chunkSize !== r.chunkSize || x.reservation.chunkCount !== r.chunkCount)) {
    await abandon({ fileId: r.fileId, remoteSubFiles: subFiles });
    throw new KofnError('LAYOUT_NOT_SUPPORTED', 'The other deployment cuts files into chunks of another size; it cannot hold a group of this file.');
  }
  const enc = encodingTree(r.layout, r.placements, remotes);
  remoteGroupsOf.set(r.fileId, remotes);
  const state: StoredUpload = {
    fileId: r.fileId,
    file,
    ...(r.name !== undefined && r.name !== file.name ? { name: r.name } : {}),
    k: r.k,
    n: enc.placements.length,
    chunkSize: r.chunkSize,
    chunkCount: r.chunkCount,
    epoch: r.epoch,
    placements: enc.placements,
    macKey: newMacKey(),
    createdAt: Date.now(),
    doneUpTo: -1,
    digests: enc.placements.map(() => []),
    tree: enc.tree,
    remoteSubFiles: subFiles
  };
  try {
    await saveUpload(state, true);
    const puts = new Map([...r.placements.map((p): [string, string] => [p.relayId, p.token]), ...enc.tokens]);
    return await runWithFailover(state, puts, opts);
  } finally {
    remoteGroupsOf.delete(r.fileId);
  }
}

/** Continues an upload found in IndexedDB after a reload. */
export async function resumeUpload(state: StoredUpload, opts: ProtectOptions): Promise<{ fileId: string }> {
  if (state.remoteSubFiles?.length) {
    // The other deployments' tokens and the links signing for them belong to the page that started it.
    await abandon(state);
    throw new KofnError('LAYOUT_NOT_SUPPORTED', 'An upload with a group on another deployment cannot resume after a reload; protect the file again.');
  }
  try {
    await dropChunksAfter(state, state.doneUpTo, opts);
  } catch (err) {
    if (opts.signal?.aborted || unloading) throw err;
    await abandon(state);
    throw err;
  }
  return runWithFailover(state, await tokens(state.fileId, 'put'), opts);
}

/** Deletes every chunk past `after` from every relay of the upload. */
async function dropChunksAfter(state: StoredUpload, after: number, opts: ProtectOptions): Promise<void> {
  const [list, del] = await Promise.all([tokens(state.fileId, 'list'), tokens(state.fileId, 'delete')]);
  await Promise.all(
    state.placements.map(async (p) => {
      // Bounded in time and size like every relay request (shared RelayClient); errors name the relay.
      const chunks = await relayClient({ ...p, token: list.get(p.relayId)! }, opts.relayTimeouts).list(state.fileId, state.chunkCount + 1, opts.signal);
      const remover = relayClient({ ...p, token: del.get(p.relayId)! }, opts.relayTimeouts);
      for (const c of chunks.filter((c) => c.index > after)) await remover.deleteChunk(state.fileId, c.index, opts.signal);
    })
  );
}

/** Relays replaced in one upload at most: past that the network, not a relay, is the likelier fault. */
const MAX_REPLACEMENTS = 2;

/** The relay an error blames, when another relay could do its part (it stalled, flooded, or was unreachable). */
function blamedRelay(err: unknown, state: StoredUpload): string | undefined {
  const e = err as { code?: string; details?: { relayId?: unknown } } | null;
  const relayId = e?.details?.relayId;
  if (typeof relayId !== 'string' || !RELAY_FAILURE_CODES.has(e?.code as ErrorCode)) return undefined;
  return state.placements.some((p) => p.relayId === relayId) ? relayId : undefined;
}

/**
 * Runs the upload; when a relay fails it (timeout, bad answer, unreachable after retries), asks the
 * coordinator for an online spare in its place (same x) and uploads again from the start: the chunks
 * already stored were split with the failed relay's share, which is gone, and every share of a chunk
 * must come from one split. Without a spare (or past MAX_REPLACEMENTS) the relay's own error, which
 * names it, ends the upload.
 */
async function runWithFailover(state: StoredUpload, puts: Map<string, string>, opts: ProtectOptions): Promise<{ fileId: string }> {
  const failed: string[] = [];
  for (;;) {
    try {
      return await run(state, puts, opts);
    } catch (err) {
      const relayId = blamedRelay(err, state);
      const canRetry = relayId !== undefined && failed.length < MAX_REPLACEMENTS && !unloading && !opts.signal?.aborted;
      if (canRetry && (await replaceRelay(state, puts, relayId, failed, opts))) continue;
      if (!unloading) await abandon(state);
      throw err;
    }
  }
}

/** Puts a spare in place of `relayId` and clears the upload for a new pass; false when there is none. */
async function replaceRelay(state: StoredUpload, puts: Map<string, string>, relayId: string, failed: string[], opts: ProtectOptions): Promise<boolean> {
  failed.push(relayId);
  try {
    const r = await api<RelayReplacement>('POST', `/api/files/${state.fileId}/replace-relay`, { relayId, exclude: failed });
    const { token, relayId: spareId, name, url, x } = r.placement;
    const placement = { relayId: spareId, name, url, x };
    state.placements = state.placements.map((p) => (p.relayId === relayId ? placement : p));
    // A tree file (#21): the spare, of the failed relay's group, takes its place and x in the manifest tree too.
    if (state.tree) state.tree = withRelayMoved(state.tree, relayId, spareId);
    puts.set(placement.relayId, token);
    await dropChunksAfter(state, -1, opts);
    state.doneUpTo = -1;
    // Compact mode: starting over re-encrypts every chunk; a fresh key keeps each (key, chunk index) used once.
    if (freshKeyOnRestart(state.mode)) state.macKey = newMacKey();
    state.digests = state.placements.map(() => []);
    await saveUpload(state);
    return true;
  } catch {
    return false;
  }
}

async function abandon(state: Pick<StoredUpload, 'fileId' | 'remoteSubFiles'>): Promise<void> {
  // Leave nothing behind: the coordinator's deletion job removes any chunk already stored, and each other
  // deployment's removes its sub-file's (or its reservation sweep does, when it cannot be reached now).
  await api('DELETE', `/api/files/${state.fileId}`).catch(() => undefined);
  if (state.remoteSubFiles?.length) await removeRemoteGroups(state.remoteSubFiles).catch(() => undefined);
  await forgetUpload(state.fileId).catch(() => undefined);
}

async function run(state: StoredUpload, puts: Map<string, string>, opts: ProtectOptions): Promise<{ fileId: string }> {
  opts.onReserved?.({ fileId: state.fileId, placements: state.placements.map((p) => ({ ...p, token: '' })) });
  await shareWorkerScopeReady();
  // A file too small for any worker to reach its retirement share (no more than a quarter of the pool's
  // budget in all, twice over) keeps its workers: the spare replacement the pool would start for it, a
  // second worker's start-up per file, was pure cost for many small files (issue #18).
  const small = state.file.size * state.n * 2 < RETIRE_BUDGET_BYTES / MAX_WORKERS;
  const shared = small ? opts.pool?.() : undefined;
  const pool = shared ?? shareWorkerPool({ tasksPerWorker: IN_FLIGHT, retireBudgetBytes: small ? Infinity : RETIRE_BUDGET_BYTES });
  let succeeded = false;
  const abort = () => pool.terminate();
  opts.signal?.addEventListener('abort', abort, { once: true });
  const start = Math.max(0, state.doneUpTo);
  const progress: ProtectProgress = {
    done: Math.min(state.file.size, start * state.chunkSize),
    total: state.file.size,
    perRelay: Object.fromEntries(state.placements.map((p) => [p.relayId, 0]))
  };
  opts.onProgress?.({ ...progress, perRelay: { ...progress.perRelay } });
  const finished = new Set<number>();
  let live = true;
  /** Records chunk `index` as stored everywhere and moves the resume point over every contiguous one. */
  const markDone = async (index: number) => {
    finished.add(index);
    const moved: number[] = [];
    while (finished.has(state.doneUpTo + 1)) {
      finished.delete(state.doneUpTo + 1);
      state.doneUpTo += 1;
      moved.push(state.doneUpTo);
    }
    if (moved.length > 0) await saveChunksDone(state, moved);
  };
  const targets = (): RelayTarget[] => state.placements.map((p) => ({ url: p.url, relayId: p.relayId, name: p.name, token: puts.get(p.relayId)!, ...(p.remote ? { remote: p.remote } : {}) }));
  /** Records each relay's digest of chunk `index` once a worker has stored its shares everywhere. */
  const stored = async (index: number, digests: string[], plainBytes: number) => {
    // A chunk finishing after this pass failed must not touch the state the next pass starts from.
    if (!live) return;
    digests.forEach((d, j) => (state.digests[j]![index] = d));
    await markDone(index);
    progress.done += plainBytes;
    opts.onProgress?.({ ...progress, perRelay: { ...progress.perRelay } });
  };
  /** Network bytes of storing one chunk: its share chunk, once to each relay. */
  const sent = (plainBytes: number) => dataShareLength(state.mode, plainBytes, state.k) * state.n;
  try {
    // Each relay's bar moves as soon as that relay has stored a share, not when the slowest one has.
    const renewExpired = Comlink.proxy(
      renewer(
        state.fileId,
        'put',
        (fresh) => fresh.forEach((v, k) => puts.set(k, v)),
        () => putTokens(state.fileId)
      )
    );
    const onShareStored = Comlink.proxy((relayId: string, bytes: number) => {
      progress.perRelay[relayId] = (progress.perRelay[relayId] ?? 0) + bytes;
    });
    await pool.setInit((w) =>
      w.initEncoder(
        {
          k: state.k,
          xs: state.placements.map((p) => p.x),
          fileId: state.fileId,
          epoch: state.epoch,
          macKey: state.macKey,
          ...(state.mode ? { mode: state.mode } : {}),
          ...(opts.relayTimeouts ? { timeouts: opts.relayTimeouts } : {}),
          ...(state.tree ? { tree: state.tree } : {})
        },
        onShareStored,
        renewExpired
      )
    );

    const inflight = new InFlight(IN_FLIGHT, opts.signal);
    if (state.doneUpTo < 0) {
      const meta: MetadataRecord = {
        name: state.name ?? state.file.name,
        size: state.file.size,
        type: state.file.type || 'application/octet-stream',
        chunkSize: state.chunkSize,
        chunkCount: state.chunkCount,
        createdAt: state.createdAt,
        macKey: state.macKey
      };
      // Beside the first data chunks, not before them: a small file's two chunks go in one round trip's time.
      await inflight.add(async () => stored(0, await pool.run((w) => w.protectMetadata(meta, targets()), sent(0)), 0));
    }

    let index = start;
    // Chunks are read into buffers the workers give back with their answer (see readChunks), so a file
    // is read through a handful of buffers however large it is.
    const spare: ArrayBuffer[] = [];
    const chunks = readChunks(state.file.slice(start * state.chunkSize).stream(), state.chunkSize, () => spare.pop() ?? new ArrayBuffer(state.chunkSize));
    const renew = setInterval(() => void putTokens(state.fileId).then((t) => t.forEach(({ relayId, token }) => puts.set(relayId, token))), 10 * 60_000);
    try {
      for await (const value of chunks) {
        index += 1;
        const i = index;
        const length = value.byteLength;
        await inflight.add(async () => {
          const r = await pool.run((w) => w.protectChunk(i, i === state.chunkCount, Comlink.transfer(value, [value.buffer]), targets()), sent(length));
          // A buffer not kept is zeroed, as the kept ones are at the end: no plaintext waits for the collector.
          if (spare.length <= IN_FLIGHT) spare.push(r.spent);
          else new Uint8Array(r.spent).fill(0);
          await stored(i, r.digests, length);
        });
      }
      await inflight.drain();
    } finally {
      // for-await has already closed `chunks` (and so cancelled the file's read) if the loop ended early.
      clearInterval(renew);
      // Plaintext left in the spare buffers is not left to the garbage collector.
      for (const b of spare) new Uint8Array(b).fill(0);
    }
    const roots: Record<string, string> = {};
    const remoteRoots = new Map<string, Record<string, string>>();
    for (const [j, p] of state.placements.entries()) {
      const root = await digestRoot(state.digests[j]!);
      if (p.remote) remoteRoots.set(p.remote.fileId, { ...remoteRoots.get(p.remote.fileId), [p.relayId]: root });
      else roots[p.relayId] = root;
    }
    // Remote groups commit first, at their deployments: the file is never available here with a group missing.
    for (const g of remoteGroupsOf.get(state.fileId) ?? []) await commitRemote(g.link, g.reservation.fileId, remoteRoots.get(g.reservation.fileId) ?? {}, opts.signal);
    if (opts.batches && remoteRoots.size === 0) await opts.batches.commit.call({ fileId: state.fileId, roots });
    else await api('POST', `/api/files/${state.fileId}/commit`, { roots });
    await forgetUpload(state.fileId);
    succeeded = true;
    return { fileId: state.fileId };
  } finally {
    live = false;
    opts.signal?.removeEventListener('abort', abort);
    // A shared pool outlives a file that succeeded (its worker is idle: every task of it was awaited).
    if (!shared || !succeeded) pool.terminate();
  }
}
