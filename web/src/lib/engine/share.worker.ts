/**
 * The share worker: for protect it splits a chunk into its n share chunks and PUTs each to its relay; for
 * retrieve it GETs a chunk's shares, rebuilds and authenticates it. Plaintext and shares stay in this
 * worker; the page gets digests (protect) or authenticated plaintext (retrieve), by transfer, not copy.
 *
 * The pool gives a worker a few tasks at once so their network waits overlap; the CPU part (the encoder
 * reuses a scratch buffer) runs one task at a time. Errors leave as plain `{ name, code, message }`
 * objects so their stable code survives the worker boundary (structured clone drops Error subclasses' own
 * fields in Comlink's serializer).
 */
import * as Comlink from 'comlink';
import { KofnError, ShareDecoder, TreeDecoder, TreeEncoder, fileIdFromHex, hasErrorCode, looksLikeTree, type MetadataRecord, type RelayTimeouts, type TreeManifest } from '@kofn/shared';
import { relayClient, useRelaySlots, type RelayEndpoint, type RenewToken } from './relay-http';
// Issue #23: compact mode's dispatch lives in compact.ts; the hooks below are marked "compact mode".
import { MAX_METADATA_SHARE_BYTES, createFileEncoder, dataShareLength, type FileEncoder, type FileMode } from './compact';
// Issue #21 part 2 (federation): a remote group's relays hold its sub-shares under their own file id.
import { fromRemoteChunk, toRemoteChunk, type RemoteChunkTarget } from './remote-chunks';

/**
 * Where one share goes or comes from, with the capability token for it (and the relay's name, for errors).
 * `remote`: a relay of a remote group, on another deployment, which holds the share under its sub-file.
 */
export type RelayTarget = RelayEndpoint & { remote?: RemoteChunkTarget };

/** The file id a target's URLs name: the sub-file's at another deployment, else this file's. */
const idFor = (t: RelayTarget, fileId: string): string => t.remote?.fileId ?? fileId;

/** Share chunks for remote targets made into their deployment's form, in place (before they are sent). */
function toTargets(shares: Array<Uint8Array<ArrayBuffer>>, targets: RelayTarget[]): Array<Uint8Array<ArrayBuffer>> {
  shares.forEach((s, j) => {
    const remote = targets[j]?.remote;
    if (remote) toRemoteChunk(s, remote);
  });
  return shares;
}

/** Share chunks read from remote targets made back into the tree's form, in place (before decoding). */
function fromTargets(shares: Uint8Array[], sources: RelayTarget[], home: { fileId: Uint8Array; epoch: number }): Uint8Array[] {
  shares.forEach((s, j) => {
    const remote = sources[j]?.remote;
    if (remote) fromRemoteChunk(s, remote, home);
  });
  return shares;
}

/**
 * Largest share chunk 0 can be: the metadata record (version, MAC key, size, chunk size, count, time, name
 * and type with their lengths; shared/src/metadata.ts; in compact mode also its mode and data points) in a
 * share chunk. Chunk 0 is read bounded by it (issue #13 item 4: an unbounded read of a 1 GiB answer took
 * Chromium from 1 GB to 3 GB).
 */
const MAX_METADATA_SHARE = MAX_METADATA_SHARE_BYTES;

export interface EncoderInit {
  k: number;
  xs: number[];
  fileId: string;
  epoch: number;
  macKey: Uint8Array<ArrayBuffer>;
  /** Compact mode (issue #23): 'compact' encodes data chunks with AES-256-GCM + Reed-Solomon, `macKey` being the file key. Absent: Shamir. */
  mode?: FileMode;
  /** Time bounds of relay requests (the coordinator's KOFN_RELAY_TIMEOUT_*); shared defaults otherwise. */
  timeouts?: Partial<RelayTimeouts>;
  /** Issue #21: a tree file's manifest tree; targets then come in treeRelays order. */
  tree?: TreeManifest;
}

export type PublicMetadata = Omit<MetadataRecord, 'macKey'>;

/** Why one relay did not deliver (its KofnError's code and message, which name it). */
export interface RelayFailure {
  relayId: string;
  code: string;
  message: string;
}

/** Some relays did not deliver their share (after retries): the page replaces them and asks again. */
export interface Unreachable {
  unreachable: string[];
  failures: RelayFailure[];
}

/** A chunk rebuilt and authenticated; `bad` are positions in the sources that sent bad shares. */
export interface RebuiltChunk {
  data: Uint8Array<ArrayBuffer>;
  flags: number;
  bad: number[];
  /** Bytes received from each source. */
  sizes: number[];
  /**
   * The share buffers the page lent, given back. Why the page owns them: a fresh 1 MiB buffer per response
   * costs page faults and zeroing (perf showed most of the share workers' CPU in the kernel, faulting in
   * new memory), and workers are replaced every few chunks (pool.ts), so buffers a worker kept would
   * hardly be reused.
   */
  spent: ArrayBuffer[];
}

/** A chunk stored on every relay: each relay's digest, and the buffer the chunk came in, given back. */
export interface ProtectedChunk {
  digests: string[];
  spent: ArrayBuffer;
}

export interface RebuiltMetadata {
  meta: PublicMetadata;
  bad: number[];
  sizes: number[];
  /** The metadata shares, for the other workers' `initDecoder`. */
  shares: Uint8Array[];
}

// ---- multi-level hook (issue #21): a tree file's encoder splits both levels ----
let encoder: FileEncoder | TreeEncoder | undefined;
/** The file's mode (compact mode: share chunks are n/k smaller). */
let encoderMode: FileMode | undefined;
let encoderK = 0;
/** The file this worker encodes or decodes, as in URLs. */
let fileIdHex = '';
let onShareStored: ((relayId: string, bytes: number) => void) | undefined;
let decoder: ShareDecoder | TreeDecoder | undefined;
let decodeExpect: { fileId: Uint8Array; epoch: number; k: number } | undefined;
let timeouts: Partial<RelayTimeouts> | undefined;
/** The page's way to a fresh token when a relay says one expired (a Comlink proxy). */
let renewToken: RenewToken | undefined;

let cpuQueue: Promise<unknown> = Promise.resolve();
/** Runs CPU work one task at a time, in arrival order. */
function serially<T>(fn: () => Promise<T>): Promise<T> {
  const run = cpuQueue.then(fn);
  cpuQueue = run.catch(() => undefined);
  return run;
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    let wire: { name: string; code: string; message: string; details?: unknown };
    if (!hasErrorCode(err)) {
      const message = (err as { message?: unknown } | null)?.message;
      wire = { name: 'Error', code: 'INTERNAL', message: typeof message === 'string' ? message : String(err) };
    } else {
      const details = (err as { details?: unknown }).details;
      wire = { name: 'KofnError', code: err.code, message: err.message, ...(details ? { details } : {}) };
    }
    // A plain object on purpose: Comlink posts a thrown Error as its name, message and stack only (dropping
    // code and details), while any other value crosses whole by structured clone.
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    throw wire;
  }
}

/** The worker's per-file state, set by init/initDecoder: a call before them is a bug in the page. */
function initialised<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new KofnError('INTERNAL', `The share worker's ${what} is used before it is set up.`);
  return value;
}

/** Share chunks are written here and copied into Blobs at once, so a chunk allocates no share buffers. */
let scratch: Array<Uint8Array<ArrayBuffer>> = [];

const asBody = (share: Uint8Array<ArrayBuffer>): Blob => new Blob([share], { type: 'application/octet-stream' });

/** The scratch buffers, grown to hold share chunks of `dataLength` bytes of data. */
function scratchFor(dataLength: number): Array<Uint8Array<ArrayBuffer>> {
  const size = dataShareLength(encoderMode, dataLength, encoderK);
  const xs = initialised(encoder, 'encoder').xs;
  if (scratch.length !== xs.length || scratch[0]!.length < size) scratch = xs.map(() => new Uint8Array(size));
  return scratch;
}

/** PUTs body j to target j; answers the relays' digests in target order. */
function putAll(index: number, bodies: Blob[], targets: RelayTarget[]): Promise<string[]> {
  return Promise.all(
    targets.map(async (t, j) => {
      const { digest } = await relayClient(t, timeouts, renewToken).put(idFor(t, fileIdHex), index, bodies[j]!);
      onShareStored?.(t.relayId, bodies[j]!.size);
      return digest;
    })
  );
}

/** GETs one share from each source; the relays that failed (after retries), if any. */
async function getAll(fileId: string, index: number, sources: RelayTarget[]): Promise<Uint8Array[] | Unreachable> {
  const got = await Promise.allSettled(sources.map((s) => relayClient(s, timeouts, renewToken).get(idFor(s, fileId), index, MAX_METADATA_SHARE)));
  return settled(got, sources);
}

/** The shares, or which relays failed and why (a timeout, an answer too large, offline, ...). */
function settled(got: Array<PromiseSettledResult<Uint8Array>>, sources: RelayTarget[]): Uint8Array[] | Unreachable {
  const failures: RelayFailure[] = [];
  got.forEach((g, i) => {
    if (g.status === 'fulfilled') return;
    const e = g.reason as { code?: unknown; message?: unknown } | null;
    failures.push({ relayId: sources[i]!.relayId, code: typeof e?.code === 'string' ? e.code : 'RELAYS_OFFLINE', message: typeof e?.message === 'string' ? e.message : 'No answer.' });
  });
  if (failures.length > 0) return { unreachable: failures.map((f) => f.relayId), failures };
  return got.map((g) => (g as PromiseFulfilledResult<Uint8Array>).value);
}

async function startDecoder(fileId: string, epoch: number, k: number, shares: Uint8Array[]) {
  // ---- multi-level hook (issue #21): a tree file's shares are version 3 ----
  decoder = looksLikeTree(shares) ? new TreeDecoder() : new ShareDecoder();
  fileIdHex = fileId;
  decodeExpect = { fileId: fileIdFromHex(fileId), epoch, k };
  const d = await decoder.decodeMetadata(shares, decodeExpect);
  const { macKey, ...meta } = d.meta;
  macKey.fill(0);
  return { meta: meta as PublicMetadata, bad: d.bad };
}

const api = {
  /** This worker's part of the browser's connections to each relay (pool.ts, at the worker's start). */
  useRelaySlots: (n: number) => useRelaySlots(n),
  /** Takes the file's parameters; `stored` hears of every share a relay has stored (relay id, bytes). */
  initEncoder: (init: EncoderInit, stored?: (relayId: string, bytes: number) => void, renew?: RenewToken) =>
    guarded(async () => {
      // ---- multi-level hook (issue #21): both levels split here, in the worker; compact mode (issue #23) is flat only ----
      encoder = init.tree
        ? await TreeEncoder.create({ tree: init.tree, fileId: fileIdFromHex(init.fileId), epoch: init.epoch }, init.macKey)
        : await createFileEncoder(init.mode, { k: init.k, xs: init.xs, fileId: fileIdFromHex(init.fileId), epoch: init.epoch }, init.macKey);
      encoderMode = init.tree ? undefined : init.mode;
      encoderK = init.k;
      fileIdHex = init.fileId;
      onShareStored = stored;
      timeouts = init.timeouts;
      renewToken = renew;
    }),
  /** Splits the metadata record and stores its shares (chunk 0). */
  protectMetadata: (meta: MetadataRecord, targets: RelayTarget[]) =>
    guarded(async () => putAll(0, toTargets(await serially(() => initialised(encoder, 'encoder').encodeMetadata(meta)), targets).map(asBody), targets)),
  /**
   * Splits data chunk `index` and stores its shares; answers each relay's digest, and gives back the
   * chunk's buffer (`spent`) for the page to read a later chunk into (see readChunks).
   */
  protectChunk: (index: number, final: boolean, data: Uint8Array<ArrayBuffer>, targets: RelayTarget[]) =>
    guarded(async (): Promise<ProtectedChunk> => {
      const bodies = await serially(async () => toTargets(await initialised(encoder, 'encoder').encodeData(index, final, data, scratchFor(data.length)), targets).map(asBody));
      const digests = await putAll(index, bodies, targets);
      return Comlink.transfer({ digests, spent: data.buffer }, [data.buffer]);
    }),

  /** Rebuilds chunk 0 from given shares and keeps the file's key (every worker of a retrieval does this). */
  initDecoder: (fileId: string, epoch: number, k: number, shares: Uint8Array[], relayTimeouts?: Partial<RelayTimeouts>, renew?: RenewToken) =>
    guarded(() => serially(() => ((timeouts = relayTimeouts), (renewToken = renew), startDecoder(fileId, epoch, k, shares)))),
  /** Fetches chunk 0's shares, rebuilds the metadata; also answers the shares so other workers can start. */
  retrieveMetadata: (fileId: string, epoch: number, k: number, sources: RelayTarget[], relayTimeouts?: Partial<RelayTimeouts>, renew?: RenewToken) =>
    guarded(async (): Promise<RebuiltMetadata | Unreachable> => {
      timeouts = relayTimeouts;
      renewToken = renew;
      const got = await getAll(fileId, 0, sources);
      if (!Array.isArray(got)) return got;
      const shares = fromTargets(got, sources, { fileId: fileIdFromHex(fileId), epoch });
      const r = await serially(() => startDecoder(fileId, epoch, k, shares));
      return { ...r, shares, sizes: shares.map((s) => s.byteLength) };
    }),
  /**
   * Fetches chunk `index` from the sources into the given buffers (one per source, each as long as a share
   * chunk of this file can be), rebuilds and authenticates it into `into` when given. The buffers come back,
   * `into` as the answer's `data.buffer` and the others as `spent`, so the page reuses them for later
   * chunks whichever worker takes those (see RebuiltChunk). `epoch`: the one the sources' tokens name, and
   * the only one the decoder accepts for this chunk (#15: a retrieval may go on at a newer epoch after its
   * renewal's old one was dropped; the key from chunk 0 authenticates every epoch's unchanged records).
   */
  retrieveChunk: (index: number, epoch: number, sources: RelayTarget[], buffers: ArrayBuffer[], into?: ArrayBuffer) =>
    guarded(async (): Promise<RebuiltChunk | Unreachable> => {
      const got = await Promise.allSettled(sources.map((s, j) => relayClient(s, timeouts, renewToken).getInto(idFor(s, fileIdHex), index, buffers[j]!)));
      const received = settled(got, sources);
      if (!Array.isArray(received)) return received;
      const expect = { ...initialised(decodeExpect, 'decoder'), epoch };
      const shares = fromTargets(received, sources, expect);
      const sizes = shares.map((s) => s.byteLength);
      const d = await serially(() => initialised(decoder, 'decoder').decodeData(shares, { ...expect, index }, into));
      // Compact mode: WebCrypto decrypts into a buffer of its own, so `into` (an earlier chunk's plaintext)
      // goes unused; it is zeroed here rather than left to the collector.
      if (into && d.data.buffer !== into) new Uint8Array(into).fill(0);
      const spent = shares.map((s) => s.buffer as ArrayBuffer);
      return Comlink.transfer({ data: d.data, flags: d.flags, bad: d.bad, sizes, spent }, [d.data.buffer, ...spent]);
    })
};

export type ShareWorkerApi = typeof api;
Comlink.expose(api);
