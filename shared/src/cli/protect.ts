/**
 * `kofn protect` for one file: what the browser does (web/src/lib/engine/protect.ts), in Node, on the same
 * protocol core: reserve with the coordinator, cut the stream into chunks, split each with ShareEncoder
 * (codec.ts), PUT each share chunk straight to its relay with the shared RelayClient (bounded in time and
 * size), then commit with one digest root per relay. Plaintext and shares never go to the coordinator.
 *
 * Memory is flat: at most a few chunks (each a chunk of plaintext, its n share chunks and fetch's copies
 * of them; in-flight.ts bounds them by bytes) exist at once, whatever the file's size. On any failure or Ctrl-C the reservation is deleted, and the
 * coordinator's delete-file job removes what relays already stored (api.md "Files").
 */
import { KofnError, hasErrorCode, type ErrorCode } from '../errors.js';
import { ShareEncoder, newMacKey } from '../codec.js';
import { CompactEncoder } from '../compact.js';
import { TreeEncoder } from '../multilevel.js';
import type { LayoutRequest } from '../layout.js';
import { dataShareChunkLength, type FileMode } from '../share-sizes.js';
import { fileIdFromHex } from '../ids.js';
import { digestRoot } from '../digest-root.js';
import { RELAY_FAILURE_CODES, RelayClient } from '../protocol/relay-client.js';
import type { MetadataRecord } from '../metadata.js';
import type { Coordinator } from './coordinator.js';
import { chunksOf } from '../chunker.js';
import type { Source } from './source.js';
import type { ResumePoint, UploadStore } from './upload-state.js';
import type { CodecPool } from './codec-pool.js';
import { collectYoung } from './heap.js';
import { chunksInFlight } from './in-flight.js';
import type { FreshTokens, RelayReplacement, Reservation } from '../protocol/api-types.js';
export type { Reservation };

export interface ProtectRequest {
  source: Source;
  k?: number;
  /**
   * Compact mode (issue #23; docs/compact-mode.md): 'compact' stores AES-256-GCM + Reed-Solomon fragments,
   * n/k of the file, secrecy resting on AES-256; absent or 'shamir': every chunk Shamir-split (the default).
   */
  mode?: FileMode;
  /**
   * A multi-level layout (issue #21, local groups; docs/multilevel.md) instead of `k` and `relays`: the file
   * is split (K, G) over the groups and each group's share again (k_g, n_g) over the group's relays.
   */
  layout?: LayoutRequest;
  /** Relay ids; default: every online relay (the coordinator's choice). */
  relays?: string[];
  type?: string;
  signal?: AbortSignal;
  /** A relay failed and the coordinator put `spare` in its place; the upload starts again. */
  onReplaced?: (relayId: string, spare: string) => void;
  /** Worker threads that split the chunks (codec-pool.ts); without, this thread does. */
  pool?: CodecPool;
  /** Where an interrupted upload of this file is recorded and found again (a file, not standard input). */
  store?: UploadStore;
  /** Plaintext bytes stored on every relay so far. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Chunks split or uploading at once, at most: the browser's figure (protect.ts), enough to keep n relays busy;
 * fewer when they would not fit in in-flight.ts's budget (3 for (3,5) with 1 MiB chunks).
 */
const IN_FLIGHT = 4;

/** The majority threshold the web app proposes by default (k = floor(n/2) + 1, at least 2). */
export function defaultThreshold(online: number): number {
  return Math.max(2, Math.floor(online / 2) + 1);
}

export interface ProtectResult {
  fileId: string;
  k: number;
  n: number;
  size: number;
  mode: FileMode;
  /** A multi-level file's groups (k is then K, n every relay): each group's threshold and relay count. */
  groups?: Array<{ k: number; n: number; label?: string }>;
  /** The chunk an interrupted upload continued after (-1: none stored yet), when it was one. */
  resumedAfter?: number;
}

/** Failures after which the upload is kept for a re-run to continue (the network, not the file or the user). */
const RESUMABLE: ReadonlySet<string> = new Set([...RELAY_FAILURE_CODES, 'COORDINATOR_UNREACHABLE', 'RELAY_UNREACHABLE']);

export function isResumable(err: unknown, signal?: AbortSignal): boolean {
  return !signal?.aborted && RESUMABLE.has((err as { code?: string } | null)?.code ?? '');
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

export async function protect(api: Coordinator, req: ProtectRequest): Promise<ProtectResult> {
  const { source, store } = req;
  const found = store ? await store.load() : undefined;
  let resumed: { r: Reservation; macKey: Uint8Array<ArrayBuffer>; point: ResumePoint; createdAt: number } | undefined;
  if (found?.state.origin === api.origin && found.state.size === source.size) {
    // The reservation must still be ours and uploading: fresh put tokens say so (404 once it was removed,
    // committed, or expired after KOFN_RESERVATION_HOURS).
    const fresh = await api.call<FreshTokens>('POST', `/api/files/${found.state.fileId}/tokens`, { op: 'put' }).catch((err: unknown) => {
      if (isResumable(err, req.signal)) throw err;
      return undefined;
    });
    if (fresh) {
      const tokens = new Map(fresh.tokens.map((t) => [t.relayId, t.token]));
      const st = found.state;
      resumed = {
        r: {
          fileId: st.fileId,
          k: st.k,
          n: st.n,
          chunkSize: st.chunkSize,
          chunkCount: st.chunkCount,
          epoch: st.epoch,
          ...(st.mode === 'compact' ? { mode: st.mode } : {}),
          ...(st.tree ? { layout: st.tree } : {}),
          placements: st.placements.map((p) => ({ ...p, token: tokens.get(p.relayId) ?? '' }))
        },
        macKey: new Uint8Array(Buffer.from(st.macKey, 'base64')),
        point: found.point,
        createdAt: st.createdAt
      };
    }
  }
  if (found && !resumed) await store?.forget();
  let r: Reservation;
  let macKey: Uint8Array<ArrayBuffer>;
  let createdAt: number;
  let point: ResumePoint = { doneUpTo: -1, digests: [] };
  if (resumed) {
    ({ r, macKey, point, createdAt } = resumed);
  } else {
    let k = req.k;
    if (k === undefined && !req.layout) {
      const online = req.relays?.length ?? (await api.call<{ relays: Array<{ status: string }> }>('GET', '/api/storage')).relays.filter((x) => x.status === 'online').length;
      k = defaultThreshold(online);
    }
    r = await api.call<Reservation>('POST', '/api/files', {
      name: source.name,
      size: source.size,
      type: req.type ?? 'application/octet-stream',
      // A layout names its thresholds and relays itself (api.md "Reserve"; the web app's engine/protect.ts).
      ...(req.layout ? { layout: req.layout } : { k }),
      ...(req.relays && !req.layout ? { relays: req.relays } : {}),
      ...(req.mode === 'compact' ? { mode: 'compact' } : {})
    });
    if (req.layout && !r.layout) {
      await api
        .withoutSignal()
        .call('DELETE', `/api/files/${r.fileId}`)
        .catch(() => undefined);
      throw new KofnError('LAYOUT_NOT_SUPPORTED', 'The kofn server does not offer multi-level layouts; nothing was stored.');
    }
    // A coordinator from before compact mode ignores `mode` and reserves a Shamir file: say so rather than
    // store the file otherwise than asked.
    if ((r.mode ?? 'shamir') !== (req.mode ?? 'shamir')) {
      await api
        .withoutSignal()
        .call('DELETE', `/api/files/${r.fileId}`)
        .catch(() => undefined);
      throw new KofnError('WRONG_VALUE', `The kofn server does not offer ${req.mode ?? 'shamir'} mode; nothing was stored.`);
    }
    macKey = newMacKey();
    createdAt = Date.now();
  }
  // The plan's key is the file's: the MAC key, or in compact mode the AES-256 key, replaced when an upload
  // starts over on other relays (uploadWithFailover).
  const plan: UploadPlan = { macKey, createdAt, point, saveState: async () => undefined };
  const saveState = async () => {
    await store?.save({
      v: 1,
      origin: api.origin,
      fileId: r.fileId,
      k: r.k,
      n: r.n,
      chunkSize: r.chunkSize,
      chunkCount: r.chunkCount,
      epoch: r.epoch,
      ...(r.mode === 'compact' ? { mode: r.mode } : {}),
      ...(r.layout ? { tree: r.layout } : {}),
      placements: r.placements.map(({ relayId, name, url, x }) => ({ relayId, name, url, x })),
      macKey: b64(plan.macKey),
      createdAt,
      name: source.name,
      size: source.size,
      type: req.type ?? 'application/octet-stream'
    });
  };
  plan.saveState = saveState;
  try {
    if (!resumed) await saveState();
    else await dropStored(api, r, req.signal, point.doneUpTo);
    const perRelay = await uploadWithFailover(api, r, req, plan);
    const roots: Record<string, string> = {};
    for (const [j, p] of r.placements.entries()) roots[p.relayId] = await digestRoot(perRelay[j]!);
    await commitFile(api, r.fileId, roots);
    await store?.forget();
    const groups = r.layout?.groups.map((g) => ({ k: g.k, n: g.kind === 'local' ? g.relays.length : g.n, ...(g.label === undefined ? {} : { label: g.label }) }));
    return { fileId: r.fileId, k: r.k, n: r.n, size: source.size, mode: r.mode ?? 'shamir', ...(groups ? { groups } : {}), ...(resumed ? { resumedAfter: resumed.point.doneUpTo } : {}) };
  } catch (err) {
    // Lost network, a relay or the coordinator gone: kept for the same command to continue (the
    // coordinator removes a reservation never committed after KOFN_RESERVATION_HOURS). Anything else, and
    // Ctrl-C, leaves nothing behind: the coordinator's job deletes every share already stored. Not under
    // the caller's signal: a Ctrl-C must still remove the reservation.
    if (store && isResumable(err, req.signal)) {
      const e = err as Error & { resumable?: boolean };
      e.resumable = true;
      throw e;
    }
    await api
      .withoutSignal()
      .call('DELETE', `/api/files/${r.fileId}`)
      .catch(() => undefined);
    await store?.forget();
    throw err;
  } finally {
    macKey.fill(0);
    plan.macKey.fill(0);
  }
}

interface UploadPlan {
  macKey: Uint8Array<ArrayBuffer>;
  createdAt: number;
  /** Where to continue; reset to nothing after a relay was replaced. */
  point: ResumePoint;
  saveState: () => Promise<void>;
}

/** Relays replaced in one upload at most (the browser's figure, engine/protect.ts): past that the network is the likelier fault. */
const MAX_REPLACEMENTS = 2;

/** The relay of this upload an error blames, when another relay could do its part (it stalled, flooded, was unreachable). */
function blamedRelay(err: unknown, r: Reservation): string | undefined {
  const e = err as { code?: string; details?: { relayId?: unknown } } | null;
  const relayId = e?.details?.relayId;
  if (typeof relayId !== 'string' || !RELAY_FAILURE_CODES.has(e?.code as ErrorCode)) return undefined;
  return r.placements.some((p) => p.relayId === relayId) ? relayId : undefined;
}

/**
 * As the browser does (engine/protect.ts runWithFailover): when a relay fails the upload, the coordinator
 * puts an online spare in its place (same x, api.md "Replace a relay"), what the other relays stored is
 * deleted (every share of a chunk must come from one split), and the upload starts again. Only a source
 * that can be read again (a file, or stdin spooled to one) can start again; stdin streamed with --size
 * cannot, and fails with the relay's error.
 */
async function uploadWithFailover(api: Coordinator, r: Reservation, req: ProtectRequest, plan: UploadPlan): Promise<string[][]> {
  const failed: string[] = [];
  for (;;) {
    try {
      return await upload(api, r, req, plan);
    } catch (err) {
      const relayId = blamedRelay(err, r);
      if (relayId === undefined || failed.length >= MAX_REPLACEMENTS || !req.source.rereadable || req.signal?.aborted) throw err;
      failed.push(relayId);
      let placement: Reservation['placements'][number];
      try {
        placement = (await api.call<RelayReplacement>('POST', `/api/files/${r.fileId}/replace-relay`, { relayId, exclude: failed })).placement;
      } catch {
        throw err; // no spare: the relay's own error, which names it, says what went wrong
      }
      r.placements = r.placements.map((p) => (p.relayId === relayId ? placement : p));
      req.onReplaced?.(relayId, placement.name);
      await dropStored(api, r, req.signal, -1);
      plan.point = { doneUpTo: -1, digests: [] };
      // Compact mode: starting over re-encrypts every chunk; a fresh key keeps each (key, chunk index) pair
      // used for one plaintext only, whatever the file holds by now (compact-mode.md, "Nonces"; the browser's
      // freshKeyOnRestart). Shamir mode keeps its MAC key (each split is fresh randomness anyway).
      if (r.mode === 'compact') {
        plan.macKey.fill(0);
        plan.macKey = newMacKey();
      }
      await plan.saveState();
    }
  }
}

/**
 * Commits the upload. A commit is sent again when a load balancer lost its answer (coordinator.ts
 * `retrySafe`); if the first one had gone through before its coordinator died, the second finds no
 * reservation and answers NOT_FOUND. The file is then committed exactly when its manifest can be read.
 */
export async function commitFile(api: Coordinator, fileId: string, roots: Record<string, string>): Promise<void> {
  try {
    await api.call('POST', `/api/files/${fileId}/commit`, { roots });
  } catch (err) {
    if (!hasErrorCode(err, 'NOT_FOUND')) throw err;
    const committed = await api.call('GET', `/api/files/${fileId}/manifest`).then(
      () => true,
      () => false
    );
    if (!committed) throw err;
  }
}

/**
 * Deletes every share chunk past `after` of the file from the relays it is placed on now, chunk by chunk as the browser
 * does (engine/protect.ts dropChunksAfter): a delete token is scoped to the file's chunk range, which the
 * whole-file DELETE is not (the relay answers TOKEN_OUT_OF_SCOPE).
 */
async function dropStored(api: Coordinator, r: Reservation, signal: AbortSignal | undefined, after: number): Promise<void> {
  const tokensFor = async (op: 'list' | 'delete') => {
    const t = await api.call<FreshTokens>('POST', `/api/files/${r.fileId}/tokens`, { op });
    return new Map(t.tokens.map((x) => [x.relayId, x.token]));
  };
  const [list, del] = await Promise.all([tokensFor('list'), tokensFor('delete')]);
  await Promise.all(
    r.placements.map(async (p) => {
      const ref = { id: p.relayId, name: p.name, url: p.url };
      const chunks = await new RelayClient(ref, { token: () => list.get(p.relayId) ?? '' }).list(r.fileId, r.chunkCount + 1, signal);
      const remover = new RelayClient(ref, { token: () => del.get(p.relayId) ?? '' });
      for (const c of chunks.filter((x) => x.index > after)) await remover.deleteChunk(r.fileId, c.index, signal);
    })
  );
}

/** Sends every chunk; answers each relay's digests by chunk index (relay order as in the placements). */
async function upload(api: Coordinator, r: Reservation, req: ProtectRequest, plan: UploadPlan): Promise<string[][]> {
  const { source, signal } = req;
  const { macKey, point } = plan;
  const perRelay: string[][] = r.placements.map((_, j) => [...(point.digests[j] ?? [])]);
  const tokens = new Map(r.placements.map((p) => [p.relayId, p.token]));
  const renew = async () => {
    const t = await api.call<FreshTokens>('POST', `/api/files/${r.fileId}/tokens`, { op: 'put' });
    for (const x of t.tokens) tokens.set(x.relayId, x.token);
  };
  const clients = r.placements.map(
    (p) =>
      new RelayClient(
        { id: p.relayId, name: p.name, url: p.url },
        {
          token: async (_op, refresh) => {
            if (refresh) await renew();
            return tokens.get(p.relayId)!;
          }
        }
      )
  );
  const opts = { k: r.k, xs: r.placements.map((p) => p.x), fileId: fileIdFromHex(r.fileId), epoch: r.epoch };
  // Compact mode (issue #23): the same shape of encoder, its key the file's AES-256 key. A tree file (issue
  // #21): both levels split here; its share chunks come in the placements' order (treeRelays order).
  const encoder = r.layout
    ? await TreeEncoder.create({ tree: r.layout, fileId: opts.fileId, epoch: r.epoch }, macKey)
    : r.mode === 'compact'
      ? await CompactEncoder.create(opts, macKey)
      : await ShareEncoder.create(opts, macKey);
  const mode: FileMode = r.mode ?? 'shamir';
  /** PUTs share chunk j of `index` to relay j, all relays at once; records each relay's digest. */
  const store = async (index: number, shares: Array<Uint8Array<ArrayBuffer>>) => {
    const answers = await Promise.all(clients.map((c, j) => c.put(r.fileId, index, shares[j]!, signal)));
    answers.forEach((a, j) => (perRelay[j]![index] = a.digest));
    // On every relay now: a re-run after a kill keeps it.
    await req.store?.chunkDone(
      index,
      answers.map((a) => a.digest)
    );
  };
  try {
    if (point.doneUpTo < 0) {
      const meta: MetadataRecord = {
        name: source.name,
        size: source.size,
        type: req.type ?? 'application/octet-stream',
        chunkSize: r.chunkSize,
        chunkCount: r.chunkCount,
        createdAt: plan.createdAt,
        macKey
      };
      await store(0, await encoder.encodeMetadata(meta));
    }
    const start = Math.max(0, point.doneUpTo);
    let done = Math.min(source.size, start * r.chunkSize);
    req.onProgress?.(done, source.size);
    const inflight = new Set<Promise<void>>();
    // Boxed: a caught value may be anything (even undefined), and the box says whether one was caught.
    let failure: { error: unknown } | undefined;
    let index = start;
    let read = done;
    const sharePool: Array<Array<Uint8Array<ArrayBuffer>>> = [];
    const spareChunks: ArrayBuffer[] = [];
    const pool = req.pool;
    if (pool) await pool.initEncoder({ k: r.k, xs: r.placements.map((p) => p.x), fileId: r.fileId, epoch: r.epoch, mode, ...(r.layout ? { tree: r.layout } : {}) }, macKey);
    // With workers, chunks are split on every core at once; each worker needs chunks waiting for it. Each
    // chunk in flight holds its plaintext, its n share chunks and fetch's copies of them (in-flight.ts).
    const inFlight = chunksInFlight(pool ? Math.max(IN_FLIGHT, 2 * pool.size) : IN_FLIGHT, r.chunkSize * (1 + 2 * r.n));
    for await (const data of chunksOf(source.open(done, signal), r.chunkSize, () => spareChunks.pop())) {
      if (failure !== undefined) break;
      if (signal?.aborted) throw signal.reason;
      index += 1;
      read += data.length;
      if (index > r.chunkCount || read > source.size) throw new KofnError('FILE_UNREADABLE', `${source.name} grew while it was read; nothing was kept.`);
      const i = index;
      const length = data.length;
      // Share buffers are lent from a pool and given back when their PUTs end, and the chunk's buffer
      // goes back to the reader: a file is sent through inFlight + 1 sets of buffers, not a new set per
      // chunk left to the collector (measured, 256 MiB through a pipe: peak RSS 169 MiB before this).
      const set = sharePool.pop() ?? r.placements.map(() => new Uint8Array(dataShareChunkLength(mode, r.chunkSize, r.k)));
      let encoded: Promise<Array<Uint8Array<ArrayBuffer>>>;
      if (pool) {
        // Moved to a worker and back (transferred, not copied); the reader gets the zeroed chunk buffer back.
        encoded = pool.encode(i, i === r.chunkCount, data, set).then((x) => {
          spareChunks.push(x.data.buffer);
          return x.shares;
        });
      } else {
        // Encoding on this thread is synchronous work on one scratch buffer: one chunk at a time; the PUTs overlap.
        const shares = await encoder.encodeData(i, i === r.chunkCount, data, set);
        data.fill(0);
        spareChunks.push(data.buffer);
        encoded = Promise.resolve(shares);
      }
      const task = encoded
        .then((shares) => store(i, shares).finally(() => sharePool.push(shares.map((x) => new Uint8Array(x.buffer)))))
        .then(
          () => {
            done += length;
            req.onProgress?.(done, source.size);
          },
          (err: unknown) => {
            failure ??= { error: err };
          }
        );
      // Every chunk, as retrieve.ts: the garbage of reading and sending is external memory a late collection leaves in RSS.
      collectYoung();
      const tracked = task.finally(() => inflight.delete(tracked));
      inflight.add(tracked);
      if (inflight.size >= inFlight) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    if (failure !== undefined) throw failure.error;
    if (signal?.aborted) throw signal.reason;
    if (index !== r.chunkCount || read !== source.size) throw new KofnError('FILE_UNREADABLE', `${source.name} is shorter than its declared size ${source.size}; nothing was kept.`);
    return perRelay;
  } finally {
    encoder.wipe();
  }
}
