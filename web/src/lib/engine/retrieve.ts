/**
 * Retrieve one file: fetch the manifest and read tokens, rank relays by ping, pull each chunk's shares
 * from the k fastest (replacing a relay that fails), rebuild and authenticate in the worker pool, and
 * hand chunks, in order, to a sink. A chunk that fails authentication is fetched again with one more
 * relay's share; the decoder then names the relay that sent bad data, which is dropped for the rest.
 * Plaintext reaches the sink only after its chunk authenticated; on any error the sink is aborted.
 * A file renewed meanwhile whose old epoch is no longer kept (EPOCH_GONE from the coordinator, NOT_FOUND
 * from relays) is read on from the failed chunk at its current epoch, each chunk wholly at one epoch
 * (@kofn/shared protocol/epoch-follow.ts).
 */
import * as Comlink from 'comlink';
import { EpochFollower, FLAG_FINAL, KofnError, mayBeEpochGone, type FreshTokens, type RelayTimeouts } from '@kofn/shared';
import { api } from '$lib/api';
import { shareWorkerPool } from './pool';
import { ping } from './relay-http';
import { safeFileName } from './sinks';
import { renewer } from './tokens';
import type { RenewToken } from './relay-http';
import { InFlight } from './in-flight';
import { rankTree, replaceInTree } from './multilevel';
import { shareWorkerScopeReady } from './worker-scope';
import type { RebuiltChunk, RebuiltMetadata, RelayFailure, RelayTarget, Unreachable } from './share.worker';
import type { Manifest } from '@kofn/shared';
// Issue #21 part 2 (federation): remote groups' relays, with read tokens from their own deployments.
import { hasRemote, withRemoteGroups } from './remote-groups';
import type { RemoteChunkTarget } from './remote-chunks';
// Issue #23, compact mode: share sizes per mode (compact.ts).
import { dataShareLength, modeOfRecord } from './compact';
export type { Manifest };

export interface Sink {
  /** Once this settles the sink holds no reference to `chunk`: the caller reuses its buffer. */
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(reason: unknown): Promise<void>;
}

/** The file as its authenticated metadata record describes it; `name` is made safe to save (safeFileName). */
export interface SavedFile {
  name: string;
  size: number;
  type: string;
}

/**
 * Opens where the file goes, once its metadata record has been rebuilt and authenticated: the name a file
 * is saved under comes from that record, never from the coordinator alone (issue #13 item 12).
 */
export interface SinkFor {
  (file: SavedFile): Promise<Sink>;
  /** Undoes what was prepared before the sink was asked for (a save picker's empty file) when retrieval fails first. */
  abort?: (reason: unknown) => Promise<void>;
}

export interface RetrieveOptions {
  signal?: AbortSignal;
  onManifest?: (m: Manifest) => void;
  onProgress?: (done: number, total: number, perRelay: Record<string, number>) => void;
  /** Time bounds of relay requests (the page has them from the coordinator's KOFN_RELAY_TIMEOUT_*). */
  relayTimeouts?: Partial<RelayTimeouts>;
  /** Where manifest and fresh tokens come from when not from the signed-in user's file routes (a share link). */
  source?: ManifestSource;
  /**
   * Relays to read from first, whatever their ping (at most k): checking a repaired share needs that share in
   * the k-subset (verify-repair.ts). Such a relay that fails is replaced like any other and named in the result.
   */
  prefer?: readonly string[];
}

export interface ManifestSource {
  manifest(): Promise<Manifest>;
  /** Fresh read tokens, naming `epoch`, for a retrieval in progress. */
  tokens: (epoch: number) => Promise<FreshTokens['tokens']>;
  /** The file's current manifest for a retrieval in progress whose epoch was dropped (no download counted). */
  current: () => Promise<Manifest>;
}

export interface RetrieveResult {
  size: number;
  /** Relays that sent data failing authentication. */
  badRelays: string[];
  /**
   * Relays that could not be reached, stalled past a timeout or sent too much (replaced by spares), and
   * relays whose ping failed that delivered nothing (ranked last and never needed): from the browser, all
   * of them were down. A retrieval that succeeds with any relay here or in `badRelays` is one the person
   * is told about and the coordinator checks (transfer-manager.svelte.ts, files.ts reportRetrieval).
   */
  unreachable: string[];
  /**
   * Relays whose share went into every chunk rebuilt: a repair check (verify-repair.ts) counts a share as
   * verified only if it is here, never because a retrieval happened to succeed without it.
   */
  readWhole: string[];
}

/**
 * What a failed retrieval throws: the error (its code and message) with the relays that sent bad data and
 * those that failed, for the page's history entry (issue #13: the page read `err.badRelays`, never set).
 */
export interface RetrieveError {
  code: string;
  message: string;
  badRelays: string[];
  unreachable: string[];
}

type Placement = Manifest['placements'][number] & { remote?: RemoteChunkTarget };
// Retrieve keeps more chunks in flight than protect: measured 0.71x of the unsplit download baseline with
// 4, 0.87x with 8 (256 MiB, (3,5), headless Chromium; e2e/bench).
const IN_FLIGHT = 8;
/**
 * The share workers are replaced after receiving this many bytes between them: Chromium's renderer holds
 * on to memory for the responses a worker has read (measured in a Chromium 156 worker: +235 MB after 600
 * 1 MiB GETs read into the same few buffers, not released by a nudged GC) until the worker ends. Each
 * replacement costs about 45 ms of CPU (pool.ts). Measured with bench:e2e, (3,5), 256 MiB, browser growth
 * over idle, with two workers: 32 MiB +129-144 MB, 96 MiB +193-228 MB, never replacing them +462-475 MB;
 * with one worker, 96 MiB gave +198-239 MB. 96 MiB replaces a third as often as 32 MiB (renderer CPU
 * 1.17-1.19x the baseline's instead of 1.31-1.45x) and stays under 300 MB.
 */
const RETIRE_BUDGET_BYTES = 96 * 1024 * 1024;

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

export async function retrieveFile(fileId: string, sinkFor: SinkFor, opts: RetrieveOptions = {}): Promise<RetrieveResult> {
  const home = opts.source ? await opts.source.manifest() : await api<Manifest>('GET', `/api/files/${fileId}/manifest`);
  // ---- federation hook (issue #21 part 2): remote groups' relays join from their deployments (when they answer) ----
  const remote = hasRemote(home.layout) ? await withRemoteGroups(home, opts.signal) : undefined;
  const m: Manifest & { placements: Placement[] } = remote?.manifest ?? home;
  opts.onManifest?.(m);
  const times = await Promise.all(m.placements.map((p) => (p.online ? ping(p.url) : Promise.resolve(Infinity))));
  const preferred = new Set(opts.prefer ?? []);
  const ranked = m.placements
    .map((p, i) => ({ p, t: times[i]!, first: preferred.has(p.relayId) ? 0 : 1 }))
    .sort((a, b) => a.first - b.first || a.t - b.t)
    .map((x) => x.p);
  const active: Placement[] = ranked.slice(0, m.k);
  const spares: Placement[] = ranked.slice(m.k);
  /** Placements, with their tokens, of each epoch read (the first, and any the follower moved to). */
  const placementsAt = new Map<number, Placement[]>([[m.epoch, m.placements]]);
  // ---- multi-level hook (issue #21): a tree file reads the K fastest groups, k_g relays in each ----
  if (m.layout) {
    // A repair check (`prefer`) must read the preferred relays: their groups rank first, and within those
    // groups the preferred relays first (a group ranks by its k_g-th fastest relay: one preferred relay
    // alone would not bring it forward). A relay whose ping failed stays last.
    const preferGroups = new Set(m.placements.filter((p) => preferred.has(p.relayId)).map((p) => p.groupX));
    const rankTimes = m.placements.map((p, i) => (times[i] === Infinity ? Infinity : times[i]! - (preferred.has(p.relayId) ? 2e9 : preferGroups.has(p.groupX) ? 1e9 : 0)));
    rankTree(m, rankTimes, active, spares);
  }
  const bad = new Set<string>();
  const unreachable = new Set<string>();
  const perRelay: Record<string, number> = {};
  /** Chunks each relay's share went into, and chunks rebuilt: a relay in every one took part in the whole file. */
  const chunksFrom = new Map<string, number>();
  let chunksRead = 0;
  await shareWorkerScopeReady();
  const pool = shareWorkerPool({ tasksPerWorker: IN_FLIGHT, retireBudgetBytes: RETIRE_BUDGET_BYTES });
  const abort = () => pool.terminate();
  opts.signal?.addEventListener('abort', abort, { once: true });
  // Buffers lent to the workers and given back: share buffers for the GETs, and buffers of chunks already
  // written to rebuild later chunks into. A retrieval allocates about IN_FLIGHT x (k + 1) of them.
  const shareBuffers: ArrayBuffer[] = [];
  const written: ArrayBuffer[] = [];
  // Fresh tokens name the epoch the chunk asking reads, so a renewal switching the file meanwhile does not move
  // a chunk to the new epoch's shares half-way (#15; the coordinator's read-epoch.ts).
  const homeTokens = (epoch: number) => opts.source?.tokens(epoch) ?? api<FreshTokens>('POST', `/api/files/${fileId}/tokens`, { op: 'get', epoch }).then((r) => r.tokens);
  const allTokens = remote ? async (epoch: number) => (await Promise.all([homeTokens(epoch), remote.tokens()])).flat() : homeTokens;
  /** One renewer per epoch read: its answers go to that epoch's placements only. */
  const renewers = new Map<number, RenewToken>();
  const renewAt = (epoch: number): RenewToken => {
    let r = renewers.get(epoch);
    if (!r) {
      const placements = placementsAt.get(epoch) ?? [];
      r = renewer(
        fileId,
        'get',
        (tokens) => placements.forEach((p) => (p.token = tokens.get(p.relayId) ?? p.token)),
        () => allTokens(epoch)
      );
      renewers.set(epoch, r);
    }
    return r;
  };
  const renew = Comlink.proxy((relayId: string, epoch?: number) => renewAt(epoch ?? m.epoch)(relayId));
  /** Why each failed relay failed, as its error said (naming it). */
  const failures = new Map<string, RelayFailure>();
  // Issue #17 defect 8: say which servers failed, how many are needed and how many answered.
  const offline = () =>
    new KofnError(
      'RELAYS_OFFLINE',
      `Some storage servers necessary for the operation are not connected: ${m.k} of ${m.n} are needed and ${failures.size} did not answer. ${[...failures.values()].map((f) => f.message).join(' ')}`.trim()
    );

  const replace = (relay: Placement): void => {
    // ---- multi-level hook (issue #21): a relay of its own group, else a whole other group ----
    if (m.layout) {
      if (!replaceInTree(m, active, spares, relay)) throw offline();
      return;
    }
    // By id: after a hop (below) the lists hold the new epoch's placement of the same relay.
    const at = active.findIndex((p) => p.relayId === relay.relayId);
    // Already replaced (chunks in flight fail on the same stalled relay together): keep the spares.
    if (at < 0) return;
    const next = spares.shift();
    if (!next) throw offline();
    active[at] = next;
  };

  /** A relay that could not deliver a share: dropped as a spare, or replaced by one. */
  const lost = (relayId: string): void => {
    unreachable.add(relayId);
    const s = spares.findIndex((p) => p.relayId === relayId);
    if (s >= 0) spares.splice(s, 1);
    else {
      // Already replaced, a relay that joined at a hop included: nothing to do.
      const relay = active.find((p) => p.relayId === relayId) ?? m.placements.find((p) => p.relayId === relayId);
      if (relay) replace(relay);
    }
  };

  // A renewal's old epoch gone mid-download: the rest is read at the current epoch (epoch-follow.ts; a tree
  // file only to the same tree, its relays unchanged). The hop swaps in the new epoch's placements (and tokens) at
  // once, before any chunk hears of it: a relay replaced by the renewal leaves, one new to the file is a spare.
  const follower = new EpochFollower<Manifest & { placements: Placement[] }>(m, {
    current: () => opts.source?.current() ?? api<Manifest>('GET', `/api/files/${fileId}/manifest`),
    onHop: (next) => {
      placementsAt.set(next.epoch, next.placements);
      const byId = new Map(next.placements.map((p) => [p.relayId, p]));
      for (const list of [active, spares]) {
        for (let i = list.length - 1; i >= 0; i--) {
          const q = byId.get(list[i]!.relayId);
          if (q) list[i] = q;
          else list.splice(i, 1);
        }
      }
      const listed = new Set([...active, ...spares].map((p) => p.relayId));
      for (const p of next.placements) if (!listed.has(p.relayId) && !bad.has(p.relayId) && !unreachable.has(p.relayId)) spares.push(p);
      while (active.length < m.k && spares.length > 0) active.push(spares.shift()!);
      if (active.length < m.k) throw offline();
    }
  });
  /** What decodeAt answers when the file moved past the epoch it read: the chunk is read again at the new one. */
  const MOVED = Symbol('moved');

  /**
   * Rebuilds chunk `index` in a worker from the active relays' shares, plus `extra` spares' when
   * authentication fails (the decoder then names the bad ones); relays that do not answer are replaced.
   * Wholly at one epoch: read again from scratch at the new one when the file moved on (bounded by the follower).
   */
  const decode = async <T extends { bad: number[]; sizes: number[] }>(index: number, run: (sources: RelayTarget[], epoch: number) => Promise<T | Unreachable>): Promise<T> => {
    for (;;) {
      const out = await decodeAt(index, follower.epoch, run);
      if (out !== MOVED) return out;
    }
  };

  const decodeAt = async <T extends { bad: number[]; sizes: number[] }>(
    index: number,
    at: number,
    run: (sources: RelayTarget[], epoch: number) => Promise<T | Unreachable>
  ): Promise<T | typeof MOVED> => {
    for (let extra = 0; ; extra++) {
      for (let attempt = 0; ; attempt++) {
        // Another chunk moved the retrieval on meanwhile: the lists now hold the new epoch's placements.
        if (follower.epoch !== at) return MOVED;
        const wanted = [...active, ...spares.slice(0, extra)];
        let out: T | Unreachable;
        try {
          out = await run(
            wanted.map((p) => ({ url: p.url, relayId: p.relayId, name: p.name, token: p.token, epoch: at, ...(p.remote ? { remote: p.remote } : {}) })),
            at
          );
        } catch (err) {
          const code = codeOf(err);
          const retryable =
            code === 'AUTH_FAILED' ||
            code === 'NOT_ENOUGH_SHARES' ||
            code === 'BAD_SHARE_FORMAT' ||
            code === 'MIXED_EPOCH' ||
            code === 'MIXED_FILE' ||
            code === 'STREAM_OUT_OF_ORDER' ||
            code === 'INVALID_X' ||
            code === 'DUPLICATE_X';
          if (!retryable || extra >= spares.length) throw err;
          break;
        }
        if ('unreachable' in out) {
          if (opts.signal?.aborted) throw opts.signal.reason;
          // The coordinator refused fresh tokens: no relay failed, and no other relay would serve either.
          const ended = out.failures.find((f) => f.code === 'ACCESS_ENDED');
          if (ended) throw new KofnError('ACCESS_ENDED', ended.message);
          // The epoch read may be gone: when the file moved on, this chunk is read again at the new epoch;
          // otherwise a relay's NOT_FOUND is its own failure (replaced below) and EPOCH_GONE ends the transfer.
          const gone = out.failures.find((f) => mayBeEpochGone(f.code));
          if (gone && (await follower.moved(at, gone.code))) return MOVED;
          if (gone?.code === 'EPOCH_GONE') throw new KofnError('EPOCH_GONE', gone.message);
          for (const f of out.failures) failures.set(f.relayId, f);
          out.unreachable.forEach(lost);
          if (attempt >= m.n) throw offline();
          continue;
        }
        wanted.forEach((p, i) => {
          perRelay[p.relayId] = (perRelay[p.relayId] ?? 0) + out.sizes[i]!;
          chunksFrom.set(p.relayId, (chunksFrom.get(p.relayId) ?? 0) + 1);
        });
        chunksRead++;
        for (const pos of out.bad) {
          const relay = wanted[pos]!;
          bad.add(relay.relayId);
          if (active.some((p) => p.relayId === relay.relayId)) replace(relay);
          const s = spares.findIndex((p) => p.relayId === relay.relayId);
          if (s >= 0) spares.splice(s, 1);
        }
        return out;
      }
    }
  };

  let sink: Sink | undefined;
  try {
    let metaShares: Uint8Array[] = [];
    let metaEpoch = m.epoch;
    const meta = await decode<RebuiltMetadata['meta'] & { bad: number[]; sizes: number[] }>(0, async (sources, at) => {
      const r: RebuiltMetadata | Unreachable = await pool.run((w) => w.retrieveMetadata(fileId, at, m.k, sources, opts.relayTimeouts, renew));
      if ('unreachable' in r) return r;
      metaShares = r.shares;
      metaEpoch = at;
      return { ...r.meta, bad: r.bad, sizes: r.sizes };
    });
    // Every worker, and every worker that replaces one, learns the file's key from the same metadata shares.
    await pool.setInit((w) => w.initDecoder(fileId, metaEpoch, m.k, metaShares, opts.relayTimeouts, renew));
    if (meta.size !== m.size || meta.chunkCount !== m.chunkCount) {
      throw new KofnError('BAD_SHARE_FORMAT', 'The stored file does not match its manifest.');
    }
    // The manifest's `name` is the record's, fixed at reserve: a manifest naming it otherwise is lying, so
    // refuse rather than pick one of the two. A renamed file (issue #18) is saved under the display name the
    // person chose, which the coordinator keeps beside the record's (shared/docs/folders.md).
    if (meta.name !== m.name) throw new KofnError('METADATA_MISMATCH', 'The coordinator names this file differently from its authenticated record; nothing was saved.');
    const opened = await sinkFor({ name: safeFileName(m.displayName ?? meta.name), size: meta.size, type: meta.type });
    sink = opened;
    let done = 0;
    const ready = new Map<number, Uint8Array<ArrayBuffer>>();
    // Compact mode: fragments are about 1/k of a chunk; the mode is the authenticated record's, not the manifest's.
    const shareLength = dataShareLength(modeOfRecord(meta), m.chunkSize, m.k);
    let nextToWrite = 1;
    const inflight = new InFlight(IN_FLIGHT, opts.signal);
    const flush = async () => {
      while (ready.has(nextToWrite)) {
        const data = ready.get(nextToWrite)!;
        ready.delete(nextToWrite);
        await opened.write(data);
        // A buffer not kept is zeroed, as the kept ones are at the end: no plaintext waits for the collector.
        if (written.length < IN_FLIGHT) written.push(data.buffer);
        else new Uint8Array(data.buffer).fill(0);
        done += data.byteLength;
        nextToWrite += 1;
        opts.onProgress?.(done, m.size, { ...perRelay });
      }
    };
    for (let i = 1; i <= m.chunkCount; i++) {
      await inflight.add(async () => {
        const d = await decode<RebuiltChunk>(i, (sources, at) =>
          pool.run(async (w) => {
            const buffers = sources.map(() => shareBuffers.pop() ?? new ArrayBuffer(shareLength));
            const into = written.pop();
            const out = await w.retrieveChunk(i, at, sources, Comlink.transfer(buffers, buffers), into && Comlink.transfer(into, [into]));
            if ('spent' in out) shareBuffers.push(...out.spent.slice(0, Math.max(0, IN_FLIGHT * m.n - shareBuffers.length)));
            return out;
          }, sources.length * shareLength)
        );
        if (((d.flags & FLAG_FINAL) !== 0) !== (i === m.chunkCount)) throw new KofnError('STREAM_TRUNCATED', 'The file ended early.');
        ready.set(i, d.data);
        await flush();
      });
    }
    await inflight.drain();
    await flush();
    if (done !== m.size) throw new KofnError('STREAM_TRUNCATED', 'The file ended before its final chunk.');
    await opened.close();
    opts.onProgress?.(done, m.size, { ...perRelay });
    // A relay passed over because its ping failed was never tried: it is as down, to this browser, as one
    // that failed mid-transfer, and the person must hear of it even though the others sufficed.
    m.placements.forEach((p, i) => {
      if (times[i] === Infinity && !(p.relayId in perRelay) && !bad.has(p.relayId)) unreachable.add(p.relayId);
    });
    // The home coordinator knows nothing of other deployments' relays: the report to it names its own only.
    const ours = (ids: Set<string>) => [...ids].filter((id) => !remote?.remoteRelays.has(id));
    const whole = new Set([...chunksFrom].filter(([, n]) => n === chunksRead).map(([id]) => id));
    return { size: done, badRelays: ours(bad), unreachable: ours(unreachable), readWhole: ours(whole) };
  } catch (err) {
    await (sink ? sink.abort(err) : sinkFor.abort?.(err))?.catch(() => undefined);
    throw withRelays(err, [...bad], [...unreachable]);
  } finally {
    opts.signal?.removeEventListener('abort', abort);
    pool.terminate();
    // The sink has copied what it wrote; no plaintext waits for the garbage collector in these.
    for (const b of written) new Uint8Array(b).fill(0);
  }
}

/** The error with the relays that failed attached (a cancellation is passed on as it is). */
function withRelays(err: unknown, badRelays: string[], unreachable: string[]): unknown {
  const e = err as { name?: string; code?: unknown; message?: unknown } | null;
  if (e?.name === 'AbortError' || typeof e !== 'object' || e === null) return err;
  const out: RetrieveError & { name?: string } = {
    code: typeof e.code === 'string' ? e.code : 'INTERNAL',
    message: typeof e.message === 'string' ? e.message : String(err),
    badRelays,
    unreachable
  };
  if (typeof e.name === 'string') out.name = e.name;
  return out;
}
