/**
 * `kofn retrieve` for one file: what the browser does (web/src/lib/engine/retrieve.ts), in Node, on the
 * same protocol core: fetch the manifest with read tokens, rank the relays by ping, pull each chunk's
 * shares from the k fastest with the shared RelayClient (failing over to spares when one does not answer),
 * rebuild and authenticate each chunk with ShareDecoder, and only then hand its bytes to the sink, in order.
 * A chunk that fails authentication is fetched again with one more relay's share; the decoder names the
 * relay that sent bad data, which is dropped for the rest of the file and reported to the coordinator.
 * A file renewed during the retrieval whose old epoch is no longer kept (EPOCH_GONE, or relays answering
 * NOT_FOUND for it) is read on from the failed chunk at its current epoch (protocol/epoch-follow.ts).
 */
import { KofnError, hasErrorCode, type ErrorCode } from '../errors.js';
import { ShareDecoder } from '../codec.js';
import { TreeDecoder } from '../multilevel.js';
import { rankTree, replaceInTree } from '../tree-ranking.js';
import { FLAG_FINAL } from '../chunk-format.js';
import { fileIdFromHex } from '../ids.js';
import { compactShareChunkBounds, shareChunkBounds, shareChunkBoundsFor, type FileMode } from '../share-sizes.js';
import { RELAY_FAILURE_CODES, RelayClient } from '../protocol/relay-client.js';
import { EpochFollower, mayBeEpochGone } from '../protocol/epoch-follow.js';
import type { Coordinator } from './coordinator.js';
import type { Manifest } from '../protocol/api-types.js';
import type { CodecPool } from './codec-pool.js';
import { collectYoung } from './heap.js';
import { chunksInFlight } from './in-flight.js';
export type { Manifest };

export interface Sink {
  /** Bytes of the file already there from an interrupted retrieval (a whole number of chunks): written after them. */
  readonly resumeAt?: number;
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** `keep`: the network failed, and what was written stays for a re-run to continue. */
  abort(keep?: boolean): Promise<void>;
}

export interface RetrieveRequest {
  fileId: string;
  /** Opens where the file goes, once its authenticated metadata record is known. */
  sinkFor: (file: { name: string; size: number; chunkSize: number }) => Promise<Sink>;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  onManifest?: (m: Manifest) => void;
  /** Worker threads that rebuild the chunks (codec-pool.ts); without, this thread does. */
  pool?: CodecPool;
}

export interface RetrieveResult {
  name: string;
  size: number;
  badRelays: string[];
  unreachable: string[];
  /** Bytes an interrupted retrieval had written, continued after (absent when it started from nothing). */
  resumedAt?: number;
  /** The epoch the last chunks were read at (#15). */
  epoch: number;
  /** The epoch the retrieval began at, when it went on at a newer one after a renewal dropped it (#15). */
  fromEpoch?: number;
}

/**
 * Chunks fetched at once. The browser fetches 8 (web/src/lib/engine/retrieve.ts); here 6: measured, 256 MiB
 * (3,5) to a pipe on 2 loaded cores, GNU time %M, peak RSS 218-233 MiB with 8 and 170-192 MiB with 6 (with
 * the collection every chunk below), at 74-79 MB/s with 6 against 32-51 MB/s with 8 in the same runs.
 */
const IN_FLIGHT = 6;
/** Bytes one chunk in flight holds: its k share chunks, each read in pieces and joined, and the rebuilt chunk (in-flight.ts). */
const bytesInFlight = (m: Manifest) => m.chunkSize * (1 + 2 * m.k);
/** Failures after which a partial file is kept for a re-run (the network), as protect's (protect.ts). */
const RESUMABLE: ReadonlySet<string> = new Set([...RELAY_FAILURE_CODES, 'COORDINATOR_UNREACHABLE', 'RELAY_UNREACHABLE']);
/** A relay that does not answer a ping within this is ranked last (it is still a spare). */
export const PING_MS = 3_000;
/** Decoder errors that another relay's share may cure (the browser's list in retrieve.ts). */
const CURABLE: ReadonlySet<string> = new Set(['AUTH_FAILED', 'NOT_ENOUGH_SHARES', 'BAD_SHARE_FORMAT', 'MIXED_EPOCH', 'MIXED_FILE', 'STREAM_OUT_OF_ORDER', 'INVALID_X', 'DUPLICATE_X']);

type Placement = Manifest['placements'][number];

async function ping(url: string, signal?: AbortSignal): Promise<number> {
  const t0 = performance.now();
  const timeout = AbortSignal.timeout(PING_MS);
  try {
    const res = await fetch(`${url}/v1/ping`, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    await res.body?.cancel();
    return res.ok ? performance.now() - t0 : Infinity;
  } catch {
    return Infinity;
  }
}

export async function retrieve(api: Coordinator, req: RetrieveRequest): Promise<RetrieveResult> {
  const { signal } = req;
  const m = await api.call<Manifest>('GET', `/api/files/${req.fileId}/manifest`);
  req.onManifest?.(m);
  const times = await Promise.all(m.placements.map((p) => (p.online ? ping(p.url, signal) : Promise.resolve(Infinity))));
  /** Relays still trusted, fastest first; a relay that fails or lies is removed. */
  const ranked: Placement[] = m.placements
    .map((p, i) => ({ p, t: times[i]! }))
    .sort((a, b) => a.t - b.t)
    .map((x) => x.p);
  // A tree file (issue #21; tree-ranking.ts, as the browser): read the K fastest groups, the k_g fastest
  // relays in each (`active`); a failed relay gives way to a spare of its own group, else its whole group
  // to another. A flat file reads the k fastest relays and fails over to the next fastest.
  const tree = m.layout !== undefined;
  const active: Placement[] = [];
  const spares: Placement[] = [];
  if (tree) rankTree(m, times, active, spares);
  /** Relays still trusted, in the order they are asked: fastest first, a tree's active relays first. */
  const usable = (): Placement[] => (tree ? [...active, ...spares] : ranked);
  /** Shares a chunk needs: k, or for a tree the active relays' (k_g in each of K groups). */
  const needed = () => (tree ? active.length : m.k);
  let groupsLost = false;
  const tooFewGroups = () => {
    const t = m.layout;
    return new KofnError(
      'RELAYS_OFFLINE',
      `This file needs ${t?.k ?? m.k} of its ${t?.groups.length ?? m.n} groups, each with enough storage servers; too few answered. ${failures.slice(-m.n).join(' ')}`.trim()
    );
  };
  const bad = new Set<string>();
  const unreachable = new Set<string>();
  const failures: string[] = [];
  /**
   * The relay clients of one epoch, whose tokens name it: a chunk is fetched wholly with the clients of the
   * epoch it reads, and their renewed tokens keep naming that epoch (#15, web read-epoch.ts), so a renewal
   * switching the file meanwhile never moves a chunk half-way, and a hop (below) never mixes epochs in one.
   */
  const clientsOf = (at: Manifest): Map<string, RelayClient> => {
    const tokens = new Map(at.placements.map((p) => [p.relayId, p.token]));
    const renew = async () => {
      const t = await api.call<{ tokens: Array<{ relayId: string; token: string }> }>('POST', `/api/files/${m.fileId}/tokens`, { op: 'get', epoch: at.epoch });
      for (const x of t.tokens) tokens.set(x.relayId, x.token);
    };
    return new Map(
      at.placements.map((p) => [
        p.relayId,
        new RelayClient(
          { id: p.relayId, name: p.name, url: p.url },
          {
            token: async (_op, refresh) => {
              if (refresh) await renew();
              const token = tokens.get(p.relayId);
              // Not among the fresh tokens: the relay no longer holds a share of the file (a renewal that
              // replaced it, or a drain). NOT_FOUND: as when the relay says so, the follower asks whether the
              // file moved on, and otherwise the relay is failed over.
              if (token === undefined) throw new KofnError('NOT_FOUND', `Storage server ${p.name} no longer holds a share of this file.`, { details: { relayId: p.relayId, relayName: p.name } });
              return token;
            }
          }
        )
      ])
    );
  };
  const clients = new Map([[m.epoch, clientsOf(m)]]);
  // A renewal's old epoch gone mid-download: go on at the current one (epoch-follow.ts). A tree file hops only
  // to the same tree (a tree renewal moves no relay): its active and spare relays stay, read with the new clients.
  const follower = new EpochFollower(m, {
    current: () => api.call<Manifest>('GET', `/api/files/${m.fileId}/manifest`),
    onHop: (next) => {
      clients.set(next.epoch, clientsOf(next));
      // A relay replaced by the renewal leaves the ranking; one new to the file joins it last (not pinged).
      const kept = new Set(next.placements.map((p) => p.relayId));
      for (let i = ranked.length - 1; i >= 0; i--) if (!kept.has(ranked[i]!.relayId)) ranked.splice(i, 1);
      const known = new Set([...ranked.map((p) => p.relayId), ...bad, ...unreachable]);
      for (const p of next.placements) if (!known.has(p.relayId)) ranked.push(p);
    }
  });
  const drop = (p: Placement, why: Set<string>) => {
    why.add(p.relayId);
    if (tree) {
      const s = spares.indexOf(p);
      if (s >= 0) spares.splice(s, 1);
      // False when no group can take a failed group's place: fewer than K groups are left, for good.
      else if (!replaceInTree(m, active, spares, p)) groupsLost = true;
      return;
    }
    const at = ranked.indexOf(p);
    if (at >= 0) ranked.splice(at, 1);
  };
  const fileId = fileIdFromHex(m.fileId);
  // Compact mode (issue #23): data share chunks are about 1/k of a chunk. The mode is the authenticated
  // record's (known once chunk 0 is rebuilt), not the manifest's; chunk 0 is read within the larger of
  // both modes' bounds until then.
  let mode: FileMode = 'shamir';
  const boundsOf = (index: number) =>
    index === 0
      ? { max: Math.max(shareChunkBounds(m.size, m.chunkSize, 0).max, compactShareChunkBounds(m.size, m.chunkSize, 0, m.k).max) }
      : shareChunkBoundsFor(mode, m.size, m.chunkSize, index, m.k);
  // Share buffers of whole data chunks (one exact length), lent to the relay client's reads and given back
  // once their chunk is rebuilt, so a file is read through a few sets of buffers, not a new buffer per
  // share left to the collector (in-flight.ts: the bytes in flight; the set is capped below).
  let fullShare = 0;
  const spareShares: ArrayBuffer[] = [];
  let maxSpare = IN_FLIGHT * m.k;
  const bufferFor = (max: number) => (max === fullShare ? spareShares.pop() : undefined) ?? new ArrayBuffer(max);
  const giveBack = (shares: readonly Uint8Array[]) => {
    for (const x of shares) {
      // Detached (moved to a worker) or of another length: not ours to reuse.
      if (x.buffer instanceof ArrayBuffer && x.byteOffset === 0 && x.buffer.byteLength === fullShare && spareShares.length < maxSpare) spareShares.push(x.buffer);
    }
  };

  /**
   * Shares of chunk `index` at epoch `at` from needed() + `extra` usable relays, failing over past relays
   * that do not deliver; `moved` when the file's epoch moved past `at` meanwhile (the chunk is read again).
   */
  const gather = async (index: number, extra: number, at: number): Promise<{ shares: Uint8Array[]; from: Placement[] } | 'moved'> => {
    const byRelay = clients.get(at)!;
    // Asked again each round: a tree's needs change when a whole group gives way to another.
    const want = () => needed() + extra;
    const max = boundsOf(index).max;
    const shares: Uint8Array[] = [];
    const from: Placement[] = [];
    const tried = new Set<Placement>();
    while (shares.length < want()) {
      if (groupsLost) throw tooFewGroups();
      const next = usable()
        .filter((p) => !tried.has(p))
        .slice(0, want() - shares.length);
      if (next.length === 0) {
        throw new KofnError('RELAYS_OFFLINE', `Chunk ${index} needs ${want()} storage servers; too few answered. ${failures.slice(-m.n).join(' ')}`.trim());
      }
      next.forEach((p) => tried.add(p));
      // Data chunks are read into lent buffers of their exact length (the relay client's bound; more is refused);
      // the metadata chunk, of a length known only once read, within its bound.
      const got = await Promise.allSettled(
        next.map((p) => {
          const client = byRelay.get(p.relayId);
          if (!client) return Promise.reject(new KofnError('NOT_FOUND', `Storage server ${p.name} holds no share of epoch ${at}.`));
          return index === 0 ? client.get(m.fileId, index, max, signal) : client.getInto(m.fileId, index, bufferFor(max), signal);
        })
      );
      if (signal?.aborted) throw signal.reason;
      // The epoch read gone (the coordinator refused its tokens, or relays no longer hold it): ask once
      // whether the file moved on; if so, this chunk is read again at the new epoch, its shares dropped.
      const gone = got.map((g) => (g.status === 'rejected' ? (g.reason as { code?: string } | undefined)?.code : undefined)).find(mayBeEpochGone);
      if (gone !== undefined && (await follower.moved(at, gone))) {
        giveBack([...shares, ...got.flatMap((g) => (g.status === 'fulfilled' ? [g.value] : []))]);
        return 'moved';
      }
      got.forEach((g, i) => {
        const p = next[i]!;
        if (g.status === 'fulfilled') {
          shares.push(g.value);
          from.push(p);
          return;
        }
        const code = (g.reason as { code?: string } | undefined)?.code as ErrorCode;
        if (!RELAY_FAILURE_CODES.has(code) && code !== 'NOT_FOUND') throw g.reason;
        failures.push((g.reason as Error).message);
        drop(p, unreachable);
      });
    }
    return { shares, from };
  };

  /**
   * Rebuilds chunk `index` wholly at the epoch read now, with one more share each time the rebuilt chunk
   * fails authentication; from scratch at the new epoch when the file moved on (bounded by the follower).
   */
  const rebuild = async <T extends { bad: number[] }>(index: number, decode: (shares: Uint8Array[], at: number) => Promise<T>): Promise<T> => {
    let at = follower.epoch;
    for (let extra = 0; ; extra++) {
      const got = await gather(index, extra, at);
      if (got === 'moved') {
        at = follower.epoch;
        extra = -1;
        continue;
      }
      const { shares, from } = got;
      try {
        const d = await decode(shares, at);
        for (const pos of d.bad) drop(from[pos]!, bad);
        return d;
      } catch (err) {
        if (groupsLost) throw tooFewGroups();
        if (!hasErrorCode(err) || !CURABLE.has(err.code) || usable().length <= needed() + extra) throw err;
      }
    }
  };

  // A tree file's share chunks are version 3: its decoder lifts each group's sub-shares to the group's share.
  const decoder = tree ? new TreeDecoder() : new ShareDecoder();
  let sink: Sink | undefined;
  try {
    let metaShares: Uint8Array[] = [];
    let metaEpoch = m.epoch;
    const meta = (
      await rebuild(0, (shares, at) => {
        metaShares = shares;
        metaEpoch = at;
        return decoder.decodeMetadata(shares, { fileId, epoch: at, k: m.k });
      })
    ).meta;
    if (meta.size !== m.size || meta.chunkCount !== m.chunkCount) throw new KofnError('BAD_SHARE_FORMAT', 'The stored file does not match its manifest.');
    // As in the browser (issue #13 item 12): the name comes from the authenticated record, and a coordinator
    // naming the file otherwise is lying.
    if (meta.name !== m.name) throw new KofnError('METADATA_MISMATCH', 'The coordinator names this file differently from its authenticated record; nothing was saved.');
    mode = meta.compact === undefined ? 'shamir' : 'compact';
    fullShare = m.chunkCount >= 1 ? boundsOf(1).max : 0;
    sink = await req.sinkFor({ name: meta.name, size: meta.size, chunkSize: m.chunkSize });
    const pool = req.pool;
    if (pool) await pool.initDecoder({ fileId: m.fileId, epoch: metaEpoch, k: m.k }, metaShares);
    const resumeAt = sink.resumeAt ?? 0;
    if (resumeAt % m.chunkSize !== 0 || resumeAt > m.size) throw new KofnError('INVALID_ARGUMENT', 'An interrupted retrieval left a part that does not fit this file.');
    const first = resumeAt / m.chunkSize + 1;
    let done = resumeAt;
    req.onProgress?.(done, m.size);
    // Decoding is CPU work on one engine: one chunk at a time, in order; fetches of later chunks overlap it.
    let decodeQueue: Promise<unknown> = Promise.resolve();
    const written: ArrayBuffer[] = [];
    const pending: Array<Promise<Uint8Array<ArrayBuffer>>> = [];
    const start = (i: number) => {
      const task = (async () => {
        // Each chunk decoded expecting the epoch its shares were fetched at: the key from chunk 0 (read at
        // whichever epoch) authenticates every epoch's records, which renewal leaves unchanged.
        const d = await rebuild(i, async (shares, at) => {
          // On every core with workers (the buffer moved there and back); else on this thread, one at a time.
          if (pool) {
            const d = await pool.decode({ fileId: m.fileId, index: i, epoch: at, k: m.k }, shares, written.pop());
            giveBack(d.shares);
            return d;
          }
          // Rebuilt into a buffer of a chunk already written (the decoder's `into`), not a new one each time.
          const run = decodeQueue.then(() => decoder.decodeData(shares, { fileId, index: i, epoch: at, k: m.k }, written.pop()));
          decodeQueue = run.catch(() => undefined);
          const d = await run;
          giveBack(shares);
          return d;
        });
        if (((d.flags & FLAG_FINAL) !== 0) !== (i === m.chunkCount)) throw new KofnError('STREAM_TRUNCATED', 'The file ended early.');
        return d.data;
      })();
      task.catch(() => undefined);
      pending.push(task);
    };
    const inFlight = chunksInFlight(IN_FLIGHT, bytesInFlight(m));
    maxSpare = inFlight * m.k;
    let next = first;
    while (next <= Math.min(first + inFlight - 1, m.chunkCount)) start(next++);
    for (let i = first; i <= m.chunkCount; i++) {
      const data = await pending.shift()!;
      if (signal?.aborted) throw signal.reason;
      // Authenticated (decodeData checked its tag, index and final flag): only now is a byte of it written.
      await sink.write(data);
      data.fill(0);
      if (written.length < inFlight) written.push(data.buffer);
      // Every chunk: the response bodies' pieces (undici's buffers, about a chunk's worth per chunk) are
      // external memory freed only when a collection finds them; every second chunk let them pile up
      // (process.memoryUsage().arrayBuffers peaked at 68-82 MiB for 8 MiB of chunks in flight).
      collectYoung();
      if (process.env.KOFN_MEMDEBUG && i % 100 === 0) {
        const u = process.memoryUsage();
        const M = (x: number) => (x / 1048576).toFixed(0);
        process.stderr.write(
          `M${i} rss ${M(u.rss)} heapTot ${M(u.heapTotal)} heapUsed ${M(u.heapUsed)} ext ${M(u.external)} ab ${M(u.arrayBuffers)} ${(await import('node:v8'))
            .getHeapSpaceStatistics()
            .map((x) => x.space_name.replace('_space', '') + ':' + M(x.space_size))
            .join(' ')}\n`
        );
      }
      done += data.byteLength;
      req.onProgress?.(done, m.size);
      if (next <= m.chunkCount) start(next++);
    }
    if (done !== m.size) throw new KofnError('STREAM_TRUNCATED', 'The file ended before its final chunk.');
    await sink.close();
    await report(api, m.fileId, 'ok', bad, unreachable);
    return {
      name: meta.name,
      size: done,
      badRelays: names([m, follower.manifest], bad),
      unreachable: names([m, follower.manifest], unreachable),
      ...(resumeAt > 0 ? { resumedAt: resumeAt } : {}),
      epoch: follower.epoch,
      ...(follower.hops > 0 ? { fromEpoch: m.epoch } : {})
    };
  } catch (err) {
    const keep = !signal?.aborted && RESUMABLE.has((err as { code?: string } | null)?.code ?? '');
    await sink?.abort(keep).catch(() => undefined);
    if (keep && sink?.resumeAt !== undefined) Object.assign(err as object, { resumable: true });
    if (!signal?.aborted) await report(api, m.fileId, 'error', bad, unreachable, (err as Error).message);
    throw err;
  }
}

/** The names of relays `ids`, from every manifest read (a relay may have joined or left at a renewal). */
const names = (read: Manifest[], ids: Set<string>) =>
  [...new Map(read.flatMap((m) => m.placements.map((p) => [p.relayId, p.name] as const))).entries()].filter(([id]) => ids.has(id)).map(([, name]) => name);

/** The operation history entry (api.md "retrievals"), naming relays that sent bad data; best effort. */
async function report(api: Coordinator, fileId: string, result: 'ok' | 'error', bad: Set<string>, failed: Set<string>, message?: string): Promise<void> {
  await api
    .withoutSignal()
    .call('POST', `/api/files/${fileId}/retrievals`, { result, badRelays: [...bad], failedRelays: [...failed], ...(message ? { message: message.slice(0, 500) } : {}) })
    .catch(() => undefined);
}
