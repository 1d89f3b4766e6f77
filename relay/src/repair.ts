/**
 * Repair by relays (issue #16; shared/docs/repair.md): k helper relays send the receiving relay their
 * Lagrange term at the new x, masked with pads that cancel over the helpers; the receiver sums them into
 * exactly its new share. The coordinator orchestrates with capability tokens and never sees a share, a
 * seed or a message.
 *
 *   POST /v1/repair/:fileId/start          helper; op repair_start (from the coordinator): the repair's
 *        public parameters, and tokens to hand this helper's pad seeds to the higher-numbered helpers
 *   POST /v1/repair/:fileId/seed           helper; op repair_seed (from a lower-numbered helper): a seed
 *   GET  /v1/repair/:fileId/chunks/:index  helper; op repair_send (from the receiver): the masked term
 *                                          for one chunk, once
 *   POST /v1/repair/:fileId/collect        receiver; op repair_collect (from the coordinator): fetch every
 *        chunk's k terms, sum, store as a share chunk; answers the stored digests. `from`..`to` (optional,
 *        inclusive) limit it to one range of chunks, so no request stays silent long. Or, with `source`
 *        instead of `helpers` (a move off a draining relay when fewer than k other shares are good, e.g.
 *        n = k): read the very share at the same x from the draining relay with a `get` token, check its
 *        header, store it as is
 *
 * The parameters a helper computes with (helpers' x, its own position, x_new) come only from the
 * coordinator's start call, never from the receiver, and each chunk's term is served once: a receiver
 * asking for terms at two x_new would learn lambda differences times the helper's share.
 * Sessions live in memory for SESSION_TTL_MS; a relay restart loses them and the coordinator's durable
 * job starts the repair again with a new id. Every answer read from another relay is bounded in bytes
 * and time.
 */
import { createCipheriv } from 'node:crypto';
import { epochStorageId } from '@kofn/shared/recover';
import type { Context, Hono } from 'hono';
import {
  HEADER_BYTES,
  KofnError,
  REPAIR_SEED_BYTES,
  fileIdFromHex,
  fileIdToHex,
  isFileId,
  parseChunkIndex,
  parseHeader,
  repairCoefficient,
  mulConstantInto,
  writeHeader,
  hasErrorCode,
  readBounded,
  FLAG_FINAL,
  FLAG_METADATA,
  MODE_COMPACT,
  type TokenOp,
  randomBytes
} from '@kofn/shared';
import type { ChunkStore } from './storage/types.js';
import { Gather, TermAdder, peerGet, type PeerHead } from './peer-read.js';
import { giveScratch, takeScratch } from './scratch-pool.js';
import { commitBytes, readStoredBytes } from './renewal.js';

interface Env {
  Variables: { requestId: string };
}
type Authorize = (c: Context<Env>, op: TokenOp, fileId: string, index?: number) => Promise<{ chunks: [number, number]; ep?: number }>;

const SESSION_TTL_MS = 30 * 60_000;
/** Open repairs on one relay at once: each holds k-1 seeds; the coordinator runs a few at a time. */
const MAX_SESSIONS = 1000;
const MAX_JSON_BYTES = 64 * 1024;
/** A helper answers one chunk's term from its own disk; a slow one is given up on and the job retries. */
const PEER_TIMEOUT_MS = 60_000;
/**
 * Chunks a collect rebuilds (or copies) at once, each from its fetch to its fsync: one sum of up to 1 MiB and
 * k 64 KiB staging blocks each (peer-read.ts), so a receiver holds about 5 MiB of repair data at any time.
 */
const COLLECT_WINDOW = 4;
const REPAIR_ID = /^[0-9a-f]{16,64}$/;
const FLAGS_HEADER = 'x-kofn-flags';
/**
 * Compact mode (issue #23, shared/docs/compact-mode.md): a helper holding a compact file's chunk (header
 * version 2) says so with its term, as `1:<pad>` (mode compact, fragment padding). The Lagrange arithmetic
 * is the same for a Reed-Solomon fragment as for a Shamir share (the lost fragment is P(x_new), a public
 * combination of k others), so only the header must be carried through: a version-1 header on a rebuilt
 * compact chunk would make it unreadable. Absent: a Shamir share (version 1), as before.
 */
const MODE_HEADER = 'x-kofn-share-mode';
const COMPACT_MODE = /^1:([0-9]{1,3})$/;

/** The one value of a header every helper sent with its term (null: none sent it), or a bad answer. */
function agreed(values: ReadonlyArray<string | null>, what: string): string | null {
  const first = values[0] ?? null;
  if (!values.every((v) => v === first)) throw new KofnError('RELAY_BAD_ANSWER', `Helpers disagree on the chunk\u2019s ${what}.`);
  return first;
}

/**
 * Tree files (issue #21, shared/docs/multilevel.md): a helper holding a version-3 chunk (a sub-share within
 * its group) says so with its term, as `<X_g>:<K>` (its group's x at the top level, and K). The helpers are
 * the group's own relays, at k_g (the header's k): the arithmetic is a flat repair inside the group, and only
 * the header's group fields must be carried through. Absent: a flat file's share.
 */
const GROUP_HEADER = 'x-kofn-share-group';
const TREE_GROUP = /^([0-9]{1,3}):([0-9]{1,3})$/;

/** The group point the helpers' terms carry: all alike and well formed, or a bad answer; absent: none. */
export function termGroup(values: ReadonlyArray<string | null>): { group?: { x: number; k: number } } {
  const first = agreed(values, 'group');
  if (first === null) return {};
  const m = TREE_GROUP.exec(first);
  const x = m ? Number(m[1]) : NaN;
  const k = m ? Number(m[2]) : NaN;
  if (!m || x < 1 || x > 255 || k < 1 || k > 255) throw new KofnError('RELAY_BAD_ANSWER', 'A helper sent a malformed share group.');
  return { group: { x, k } };
}

/** The mode and padding the helpers' terms carry: all alike, padding below k (and 0 on chunk 0), or a bad answer. */
export function termMode(values: ReadonlyArray<string | null>, k: number, index: number): { mode?: number; pad?: number } {
  const first = agreed(values, 'mode');
  if (first === null) return {};
  const m = COMPACT_MODE.exec(first);
  const pad = m ? Number(m[1]) : NaN;
  if (!m || pad >= k || (index === 0 && pad !== 0)) throw new KofnError('RELAY_BAD_ANSWER', 'A helper sent a malformed share mode.');
  return { mode: MODE_COMPACT, pad };
}

interface Session {
  rid: string;
  xs: number[];
  self: number;
  xNew: number;
  k: number;
  epoch: number;
  chunkCount: number;
  coefficient: number;
  /** Pad seeds shared with each other helper, by that helper's position. */
  seeds: Map<number, Uint8Array>;
  served: Set<number>;
  expires: number;
}

/**
 * The token's epoch (absent = 0) must be the one the body names: the coordinator decides which epoch a
 * repair reads and writes, so a receiver or a replayed body cannot move it to another.
 */
function requireEpoch(cap: { ep?: number }, epoch: number): void {
  if ((cap.ep ?? 0) !== epoch) throw new KofnError('TOKEN_OUT_OF_SCOPE', 'The capability token does not allow this operation.');
}

function bad(message: string): KofnError {
  return new KofnError('BAD_REQUEST', message);
}

function fileIdParam(c: Context<Env>): string {
  const fileId = c.req.param('fileId') ?? '';
  if (!isFileId(fileId)) throw bad('File id must be 32 lowercase hex digits.');
  return fileId;
}

/**
 * A repair step's JSON body, read bounded as it arrives (a Content-Length may lie or be absent): seed
 * tokens are handed to peer relays, so the sender may be hostile and must not make this relay buffer an
 * endless body (issue #13: every read of another party's message is bounded).
 */
async function jsonBody(c: Context<Env>): Promise<Record<string, unknown>> {
  const tooLarge = () => new KofnError('PAYLOAD_TOO_LARGE', `Request body over ${MAX_JSON_BYTES} bytes.`);
  const declared = c.req.header('content-length');
  if (declared !== undefined && Number(declared) > MAX_JSON_BYTES) throw tooLarge();
  let raw: Uint8Array;
  try {
    raw = await readBounded(c.req.raw.body, MAX_JSON_BYTES, tooLarge);
  } catch (e) {
    if (hasErrorCode(e, 'PAYLOAD_TOO_LARGE')) throw e;
    throw bad('The request was interrupted before its end.');
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw bad('Body is not valid JSON.');
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('Body is not valid JSON.');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('Expected a JSON object.');
  return v as Record<string, unknown>;
}

function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`"${field}" expected integer ${min}..${max}.`);
  return v;
}

function rid(v: unknown): string {
  if (typeof v !== 'string' || !REPAIR_ID.test(v)) throw bad('"rid" expected 16..64 lowercase hex digits.');
  return v;
}

function peerUrl(v: unknown, field: string): string {
  let u: URL;
  try {
    u = new URL(String(v));
  } catch {
    throw bad(`"${field}" expected an http(s) URL.`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || u.search || u.hash) throw bad(`"${field}" expected an http(s) URL.`);
  return u.origin + u.pathname.replace(/\/$/, '');
}

function token(v: unknown, field: string): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(v) || v.length > 4096) throw bad(`"${field}" expected a capability token.`);
  return v;
}

/** Reads a peer's answer, cut at `maxBytes` and at the deadline of `signal`. */
async function readPeerAnswer(res: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw new KofnError('RELAY_ANSWER_TOO_LARGE', 'A repair peer\u2019s answer is too large.');
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  // A declared length (an honest relay's always is: a term or a chunk is sent whole) gets its buffer up front,
  // each socket piece copied in and dropped: one 1 MiB buffer per term instead of the pieces plus their
  // concatenation (#16 receiver RSS). Past the declared length is refused like past the bound. A hostile
  // peer declaring the bound and sending little costs no more memory than before: an uninitialised buffer's
  // pages are only touched as bytes arrive (and the bound and the timeout still hold).
  const into = Number.isSafeInteger(declared) && declared >= 0 ? Buffer.allocUnsafe(declared) : undefined;
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (total + value.byteLength > (into ? into.length : maxBytes)) {
      await reader.cancel();
      throw new KofnError('RELAY_ANSWER_TOO_LARGE', 'A repair peer\u2019s answer is too large.');
    }
    if (into) into.set(value, total);
    else parts.push(value);
    total += value.byteLength;
  }
  if (!into) return Buffer.concat(parts);
  if (total !== into.length) throw new KofnError('RELAY_BAD_ANSWER', 'A repair peer\u2019s answer ended before its length.');
  return into;
}

async function peerCall(url: string, init: RequestInit, maxBytes: number): Promise<{ status: number; body: Uint8Array; flags: string | null; mode: string | null }> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(PEER_TIMEOUT_MS) });
  } catch {
    throw new KofnError('RELAY_TIMEOUT', 'A repair peer did not answer in time.');
  }
  return { status: res.status, body: await readPeerAnswer(res, maxBytes), flags: res.headers.get(FLAGS_HEADER), mode: res.headers.get(MODE_HEADER) };
}

/**
 * Bytes of keystream asked of node:crypto per call. Its `update` allocates a fresh output buffer each call:
 * one per whole 1 MiB chunk was most of a helper's CPU in the repair bench (page faults on fresh memory, not
 * AES: 0.3-0.6 GB/s against OpenSSL's 8 GB/s on this machine). Slices under glibc's mmap threshold (128 KiB,
 * relay/Dockerfile) come from the heap, reused while they are cache-hot.
 */
const PAD_SLICE = 64 * 1024;

/**
 * A helper's masked term for one chunk, computed in place over `body` (the share's bytes, read for this
 * request only, overwritten and returned: the share never outlives the call and no term-sized buffer is
 * allocated; #16 helper RSS and CPU). lambda * y, then each pair's pad (shared/src/repair.ts repairPad:
 * AES-256-CTR keystream under the pair's seed, counter block index || 0^12). CTR encryption of the product
 * under that key and counter is exactly the product XOR that keystream, so node:crypto does the pad and the
 * XOR in one pass per seed, slice by slice (the cipher's counter carries across calls). The counter's low
 * 64 bits never wrap within a chunk (at most 2^32 blocks), so node's 128-bit counter gives the very keystream
 * webcrypto's 64-bit one does (repair-pad.test.ts).
 */
export function maskTerm<T extends Uint8Array>(body: T, coefficient: number, seeds: readonly Uint8Array[], index: number): T {
  const counter = Buffer.alloc(16);
  counter.writeUInt32BE(index, 0);
  mulConstantInto(body, coefficient, body);
  for (const seed of seeds) {
    const cipher = createCipheriv('aes-256-ctr', seed, counter);
    for (let at = 0; at < body.length; at += PAD_SLICE) {
      const slice = body.subarray(at, at + PAD_SLICE);
      const masked = cipher.update(slice);
      slice.set(masked);
      // With more than one seed, a slice between two pads is the product under one pad: not left behind.
      masked.fill(0);
    }
  }
  return body;
}

export interface RepairDeps {
  store: ChunkStore;
  authorize: Authorize;
  maxChunkBytes: number;
}

export function mountRepair(app: Hono<Env>, deps: RepairDeps): void {
  const { store, authorize } = deps;
  /** Open sessions by file id (one repair of a file at a time on a relay), and seeds that came first. */
  const sessions = new Map<string, Session>();
  const early = new Map<string, { seeds: Map<number, Uint8Array>; expires: number }>();

  const sweep = () => {
    const now = Date.now();
    for (const [k, s] of sessions) if (s.expires < now) sessions.delete(k);
    for (const [k, s] of early) if (s.expires < now) early.delete(k);
    if (sessions.size + early.size >= MAX_SESSIONS) throw new KofnError('UNAVAILABLE', 'Too many repairs in progress on this storage server.');
  };

  app.post('/v1/repair/:fileId/start', async (c) => {
    const fileId = fileIdParam(c);
    const cap = await authorize(c, 'repair_start', fileId);
    const b = await jsonBody(c);
    const id = rid(b.rid);
    if (!Array.isArray(b.xs) || b.xs.length < 2 || b.xs.length > 255) throw bad('"xs" expected 2..255 helper x.');
    const xs = b.xs.map((x, i) => int(x, `xs[${i}]`, 1, 255));
    const self = int(b.self, 'self', 0, xs.length - 1);
    const xNew = int(b.xNew, 'xNew', 1, 255);
    const coefficient = repairCoefficient(xs, self, xNew);
    const epoch = int(b.epoch, 'epoch', 0, 0xffffffff);
    requireEpoch(cap, epoch);
    const chunkCount = int(b.chunkCount, 'chunkCount', 0, 0xfffffffe);
    if (!Array.isArray(b.peers) || b.peers.length !== xs.length - 1 - self) throw bad('"peers" expected one entry per higher-numbered helper.');
    const peers = b.peers.map((p: unknown, i) => {
      const o = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
      return { index: self + 1 + i, url: peerUrl(o.url, `peers[${i}].url`), token: token(o.token, `peers[${i}].token`) };
    });
    sweep();
    const waiting = early.get(`${fileId}:${id}`);
    early.delete(`${fileId}:${id}`);
    const session: Session = {
      rid: id,
      xs,
      self,
      xNew,
      k: xs.length,
      epoch,
      chunkCount,
      coefficient,
      seeds: waiting?.seeds ?? new Map<number, Uint8Array>(),
      served: new Set(),
      expires: Date.now() + SESSION_TTL_MS
    };
    // Seeds from this relay's CSPRNG (random.ts), one per higher-numbered helper, handed to that helper only.
    for (const peer of peers) {
      const seed = Buffer.from(randomBytes(REPAIR_SEED_BYTES));
      // (random.ts: the project's one source; Buffer only for its base64url encoding)
      const r = await peerCall(
        `${peer.url}/v1/repair/${fileId}/seed`,
        { method: 'POST', headers: { authorization: `Bearer ${peer.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ rid: id, from: self, seed: seed.toString('base64url') }) },
        4096
      );
      if (r.status !== 200) throw new KofnError('RELAY_BAD_ANSWER', `Helper ${peer.index} refused the repair seed (HTTP ${r.status}).`);
      session.seeds.set(peer.index, seed);
    }
    sessions.set(fileId, session);
    return c.json({ rid: id, seeds: session.seeds.size });
  });

  app.post('/v1/repair/:fileId/seed', async (c) => {
    const fileId = fileIdParam(c);
    const cap = await authorize(c, 'repair_seed', fileId);
    const b = await jsonBody(c);
    const id = rid(b.rid);
    const from = int(b.from, 'from', 0, 254);
    // The token names its sender (chunks = [from, from]; a whole-file op has no chunk range of its own):
    // a helper that could send a seed as another helper would know a pad it must not, and with the
    // receiver strip it from that helper's term.
    if (cap.chunks[0] !== from || cap.chunks[1] !== from) throw new KofnError('TOKEN_OUT_OF_SCOPE', 'The capability token does not allow this operation.');
    if (typeof b.seed !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(b.seed)) throw bad('"seed" expected 32 bytes in base64url.');
    const seed = Buffer.from(b.seed, 'base64url');
    const session = sessions.get(fileId);
    if (session?.rid === id) {
      if (from >= session.self) throw bad('"from" must be a lower-numbered helper.');
      if (session.seeds.has(from)) throw new KofnError('CONFLICT', 'This helper\u2019s seed was already received.');
      session.seeds.set(from, seed);
    } else {
      sweep();
      const entry = early.get(`${fileId}:${id}`) ?? { seeds: new Map<number, Uint8Array>(), expires: Date.now() + SESSION_TTL_MS };
      if (entry.seeds.has(from)) throw new KofnError('CONFLICT', 'This helper\u2019s seed was already received.');
      entry.seeds.set(from, seed);
      early.set(`${fileId}:${id}`, entry);
    }
    return c.json({ ok: true });
  });

  app.get('/v1/repair/:fileId/chunks/:index', async (c) => {
    const fileId = fileIdParam(c);
    const cap = await authorize(c, 'repair_send', fileId);
    const index = parseChunkIndex(c.req.param('index'));
    if (index === undefined) throw bad('Chunk index must be an integer 0..4294967294.');
    const s = sessions.get(fileId);
    if (!s || s.expires < Date.now()) throw new KofnError('NOT_FOUND', 'No repair of this file in progress here.');
    if (index > s.chunkCount) throw bad('Chunk index beyond this file.');
    requireEpoch(cap, s.epoch);
    if (s.seeds.size !== s.k - 1) throw new KofnError('CONFLICT', 'This helper has not received every pad seed yet.');
    // Served once: a second request is refused, whatever it asks.
    if (s.served.has(index)) throw new KofnError('CONFLICT', 'This chunk\u2019s repair term was already sent.');
    s.served.add(index);
    // A large file's repair comes in many collect steps (one range each): the session lives while terms flow.
    s.expires = Date.now() + SESSION_TTL_MS;
    // The repair's epoch (#15): epoch 0 is stored under the file id, a renewed epoch under its derived id.
    const chunk = await store.get(epochStorageId(fileId, s.epoch), index);
    if (!chunk) throw new KofnError('NOT_FOUND', 'This helper does not hold the chunk.');
    if (chunk.size > deps.maxChunkBytes) {
      if (chunk.file) await chunk.file.close();
      else chunk.open().destroy();
      throw new KofnError('BAD_SHARE_FORMAT', 'Stored chunk larger than any share chunk.');
    }
    const bytes = await readStoredBytes(chunk);
    const h = parseHeader(bytes);
    if (h.x !== s.xs[s.self] || h.index !== index || h.epoch !== s.epoch || h.k !== s.k || fileIdToHex(h.fileId) !== fileId) {
      throw new KofnError('BAD_SHARE_FORMAT', 'The stored chunk is not the share this repair expects.');
    }
    // Masked in place: the answer is the read buffer's body, the share in it overwritten by its term.
    const masked = maskTerm(bytes.subarray(HEADER_BYTES), s.coefficient, [...s.seeds.values()], index);
    // The stored bytes sit on an ArrayBuffer (Buffer.allocUnsafe or a concatenation), never a shared one.
    const term = new Uint8Array(masked.buffer as ArrayBuffer, masked.byteOffset, masked.byteLength);
    if (s.served.size === s.chunkCount + 1) sessions.delete(fileId);
    return c.body(term, 200, {
      'Content-Type': 'application/octet-stream',
      'Cache-Control': 'no-store',
      [FLAGS_HEADER]: String(h.flags),
      // Compact mode: the receiver writes the same header version, mode and padding (MODE_HEADER).
      ...(h.mode === MODE_COMPACT ? { [MODE_HEADER]: `1:${h.pad ?? 0}` } : {}),
      // A tree file's sub-share: the receiver writes a version-3 header with the same group point (GROUP_HEADER).
      ...(h.group ? { [GROUP_HEADER]: `${h.group.x}:${h.group.k}` } : {})
    });
  });

  app.post('/v1/repair/:fileId/collect', async (c) => {
    const fileId = fileIdParam(c);
    const cap = await authorize(c, 'repair_collect', fileId);
    const b = await jsonBody(c);
    rid(b.rid);
    const x = int(b.x, 'x', 1, 255);
    const k = int(b.k, 'k', 2, 255);
    const epoch = int(b.epoch, 'epoch', 0, 0xffffffff);
    requireEpoch(cap, epoch);
    const chunkCount = int(b.chunkCount, 'chunkCount', 0, 0xfffffffe);
    // One range of chunks per request (shared/src/step-ranges.ts): the request is silent until the answer,
    // and a whole large file's collect outlasted the idle cut (server-limits.ts). Absent: the whole file.
    const from = b.from === undefined ? 0 : int(b.from, 'from', 0, chunkCount);
    const to = b.to === undefined ? chunkCount : int(b.to, 'to', from, chunkCount);
    if (b.source !== undefined) return c.json({ fileId, x, from, digests: await copyShare(deps, fileId, { x, k, epoch, from, to }, b.source) });
    if (!Array.isArray(b.helpers) || b.helpers.length !== k) throw bad('"helpers" expected k entries.');
    const helpers = b.helpers.map((p: unknown, i) => {
      const o = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
      return { url: peerUrl(o.url, `helpers[${i}].url`), token: token(o.token, `helpers[${i}].token`) };
    });
    const id = fileIdFromHex(fileId);
    // Up to COLLECT_WINDOW chunks are rebuilt at once, each from fetching its k terms to its fsync: the
    // helpers' work, the transfers and the receiver's fsyncs overlap (bench: relay/src/bench/durability-bench.ts),
    // and each chunk in flight holds one sum, not k terms.
    const digests = await inWindow(from, to, COLLECT_WINDOW, (index) => rebuildChunk(deps, fileId, id, { x, k, epoch, index }, helpers));
    return c.json({ fileId, x, from, digests });
  });
}

/**
 * Runs `step` for every index from..to, at most `window` at once, and answers the results in index order.
 * On the first failure no further step starts; the steps in flight are awaited (none is left running after
 * the answer) and the first failure is thrown.
 */
export async function inWindow<T>(from: number, to: number, window: number, step: (index: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(Math.max(0, to - from + 1));
  let next = from;
  let failure: { err: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next <= to) {
      const index = next++;
      try {
        out[index - from] = await step(index);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, out.length) }, lane));
  if (failure) throw failure.err;
  return out;
}

/**
 * One chunk of a rebuild: the k helpers' masked terms for `index`, fetched at once and added into the
 * chunk's body as they arrive (TermAdder), then the header (from checked values) and a store as any PUT's.
 * The first helper to fail aborts the others' reads; the chunk's memory is wiped whatever happens.
 */
async function rebuildChunk(
  deps: RepairDeps,
  fileId: string,
  id: Uint8Array,
  want: { x: number; k: number; epoch: number; index: number },
  helpers: ReadonlyArray<{ url: string; token: string }>
): Promise<string> {
  const { index } = want;
  let chunk: Buffer | undefined;
  /** The chunk's memory, from the relay's pool (scratch-pool.ts: no garbage per chunk), given back at the end. */
  let pooled: Buffer | undefined;
  const sumOf = (length: number): Uint8Array => {
    // The first term's declared length sizes the chunk; every other term must declare the same.
    if (chunk === undefined) {
      if (length + HEADER_BYTES > deps.maxChunkBytes) throw new KofnError('SHARE_LENGTH_MISMATCH', 'Repair contributions differ in length.');
      pooled = takeScratch(HEADER_BYTES + length);
      // Zero: the terms are XORed into it.
      chunk = pooled.subarray(0, HEADER_BYTES + length).fill(0);
    } else if (chunk.length !== HEADER_BYTES + length) throw new KofnError('SHARE_LENGTH_MISMATCH', 'Repair contributions differ in length.');
    return chunk.subarray(HEADER_BYTES);
  };
  const stop = new AbortController();
  try {
    const reads = helpers.map((h) =>
      peerGet(
        `${h.url}/v1/repair/${fileId}/chunks/${index}`,
        { authorization: `Bearer ${h.token}` },
        { maxBytes: deps.maxChunkBytes, timeoutMs: PEER_TIMEOUT_MS, signal: stop.signal },
        (head) => new TermAdder(sumOf(head.length))
      ).then(
        (head) => {
          if (head.status !== 200) stop.abort();
          return head;
        },
        (err: unknown) => {
          stop.abort();
          throw err;
        }
      )
    );
    const settled = await Promise.allSettled(reads);
    const failed = settled.findIndex((r) => r.status === 'fulfilled' && r.value.status !== 200);
    if (failed >= 0)
      throw new KofnError('RELAY_BAD_ANSWER', `Helper ${failed} did not send chunk ${index}'s repair term (HTTP ${(settled[failed] as PromiseFulfilledResult<PeerHead>).value.status}).`);
    // The first failure that was not the abort of a sibling's read (those come after it in time, not in order).
    const rejected = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected.length) throw (rejected.find((r) => !(hasErrorCode(r.reason, 'RELAY_TIMEOUT') && stop.signal.aborted)) ?? rejected[0]!).reason;
    const heads = settled.map((r) => (r as PromiseFulfilledResult<PeerHead>).value);
    const flagValues = heads.map((h) => header(h, FLAGS_HEADER));
    const flags = Number(flagValues[0]);
    if (!flagValues.every((f) => f === flagValues[0]) || !Number.isInteger(flags) || (flags & ~(FLAG_FINAL | FLAG_METADATA)) !== 0) {
      throw new KofnError('RELAY_BAD_ANSWER', 'Helpers disagree on the chunk\u2019s flags.');
    }
    const mode = termMode(
      heads.map((h) => header(h, MODE_HEADER)),
      want.k,
      index
    );
    const group = termGroup(heads.map((h) => header(h, GROUP_HEADER)));
    // A tree share is a Shamir sub-share: never compact (writeHeader refuses the pair; said here as a bad answer).
    if (group.group && mode.mode !== undefined) throw new KofnError('RELAY_BAD_ANSWER', 'Helpers sent a compact chunk of a tree file.');
    // Every read ended with its declared length, all equal: the sum is complete behind the header.
    const body = chunk;
    if (!body) throw new KofnError('RELAY_BAD_ANSWER', `No helper sent chunk ${index}'s repair term.`);
    writeHeader(body, { flags, x: want.x, k: want.k, fileId: id, index, epoch: want.epoch, bodyLength: body.length - HEADER_BYTES, ...mode, ...group });
    // Stored as any PUT is (spooled with fsync, hashed, committed atomically), at the repair's epoch: a renewed
    // file's share lives under the epoch's derived id (#15). The header was written here, from checked values.
    return (await commitBytes(deps.store, epochStorageId(fileId, want.epoch), index, body)).digest;
  } finally {
    // Wiped as it goes back (the store's commit has written it: nothing refers to it any more).
    if (pooled) giveScratch(pooled);
  }
}

/** One header of a peer's answer as a string, or null when absent (or, improperly, repeated). */
function header(head: PeerHead, name: string): string | null {
  const v = head.headers[name];
  return typeof v === 'string' ? v : null;
}

/**
 * The copy form of collect: the share at x, read chunk by chunk from the relay that holds it (a draining
 * relay, through its ordinary GET route and a `get` token for the repair's epoch), each chunk's header
 * checked against the move (file, index, x, k, epoch: a source cannot hand over another share or epoch),
 * bounded in size and time, and stored as a PUT is. The receiver ends up with exactly the share it is to
 * hold, as after a repair at the same x; the coordinator then verifies it against the recorded digest root.
 */
async function copyShare(deps: RepairDeps, fileId: string, want: { x: number; k: number; epoch: number; from: number; to: number }, raw: unknown): Promise<string[]> {
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const url = peerUrl(o.url, 'source.url');
  const auth = token(o.token, 'source.token');
  // The same window and reader as a rebuild's chunks (inWindow, peerGet), so the copy (the repair's
  // baseline in the bench, and a drain's move) overlaps its transfers and fsyncs the same way.
  return inWindow(want.from, want.to, COLLECT_WINDOW, async (index) => {
    let got: Gather | undefined;
    try {
      const head = await peerGet(
        `${url}/v1/files/${fileId}/chunks/${index}`,
        { authorization: `Bearer ${auth}` },
        { maxBytes: deps.maxChunkBytes, timeoutMs: PEER_TIMEOUT_MS },
        (h) => (got = new Gather(h.length))
      );
      if (head.status !== 200 || !got) throw new KofnError('RELAY_BAD_ANSWER', `The source did not send chunk ${index} (HTTP ${head.status}).`);
      const h = parseHeader(got.bytes);
      if (fileIdToHex(h.fileId) !== fileId || h.index !== index || h.x !== want.x || h.k !== want.k || h.epoch !== want.epoch) {
        throw new KofnError('BAD_SHARE_FORMAT', `The source's chunk ${index} is not the share this move expects.`);
      }
      // Stored as the rebuilt chunks are (commitBytes), so the copy, the repair's baseline, takes the same path.
      return (await commitBytes(deps.store, epochStorageId(fileId, want.epoch), index, got.bytes)).digest;
    } finally {
      got?.bytes.fill(0);
    }
  });
}
