/**
 * The relay's side of proactive share renewal (#15). The protocol, its verification and its limits are in
 * shared/docs/renewal.md; this module is its routes, mounted by app.ts:
 *
 *   POST   /v1/files/:fileId/epochs/:epoch/deal                       deal sub-shares of zero (op "renew_deal")
 *   PUT    /v1/files/:fileId/epochs/:epoch/from/:dealer/chunks/:index  a dealer's contribution (op "renew_put")
 *   POST   /v1/files/:fileId/epochs/:epoch/prepare                    stage share + contributions (op "renew_prepare")
 *   POST   /v1/files/:fileId/epochs/:epoch/check                      masked-update tags (op "renew_check")
 *   DELETE /v1/files/:fileId/epochs/:epoch                            drop an epoch (op "renew_drop")
 *
 * Storage: epochs >= 1 and contributions live in the same ChunkStore under derived ids (renewal.md,
 * "Storage layout"), so disk and S3 need nothing new and every write is the store's atomic commit.
 *
 * Tree files (#21, renewal.md "Tree files"): a deal whose receivers name their groups (gx, gk) and the top
 * threshold K deals a two-level update of zero (dealTreeChunk); prepare takes only contributions of the
 * share's own group; the check is the same route with the tree's weights.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Hono, type Context } from 'hono';
import {
  FLAG_METADATA,
  HEADER_BYTES,
  KofnError,
  MODE_COMPACT,
  MAX_EPOCH,
  MAX_TOKEN_BYTES,
  RelayClient,
  ShamirEngine,
  checkNonce,
  mulConstantInto,
  hasErrorCode,
  isFileId,
  parseChunkIndex,
  parseHeader,
  parseHeaderPrefix,
  writeHeader,
  xorInto,
  type ShareHeader,
  type TokenOp,
  randomBytes,
  randomUuid,
  dealReceiversBinding,
  treeEquationCount
} from '@kofn/shared';
import { contributionStorageId, epochStorageId, padsStorageId } from '@kofn/shared/recover';
import type { Capability } from './capability.js';
import { ingest } from './storage/ingest.js';
import { addLagrangeTerm, checkVector, freshDealing, stageFreshChunk } from './renewal-fresh.js';
import { requestBody } from './node-io.js';
import { nodeFetch } from './node-fetch.js';
import { giveScratch, takeScratch } from './scratch-pool.js';
import type { ChunkInfo, ChunkStore, Spooled, StoredChunk } from './storage/types.js';

/** Verifies the request's token (its Authorization header) and its scope; answers the capability. */
export type Authorize = (authorization: string | undefined, op: TokenOp, fileId: string, index?: number) => Promise<Capability>;

export interface RenewalDeps {
  store: ChunkStore;
  authorize: Authorize;
  /** Largest share chunk this relay stores (app.ts MAX_CHUNK_BYTES). */
  maxChunkBytes: number;
  /** Relay client options for the dealer's PUTs to receivers (tests shorten the timeouts). */
  clientTimeouts?: ConstructorParameters<typeof RelayClient>[1]['timeouts'];
}

/** A deal request lists at most 255 receivers with a token each (<= 4 KiB) and a URL: 2 MiB bounds it. */
export const MAX_DEAL_BODY_BYTES = 2 * 1024 * 1024;
const MAX_CHECK_BODY_BYTES = 1024;
const MAX_URL = 2048;

/** The header a dealer's chunk-0 contribution carries that receiver's check pads in (base64url, 16 bytes per equation). */
export const CHECK_PAD_HEADER = 'x-kofn-check-pad';
/** At most 254 equations (n = 255, k = 2) of 16 bytes: 4,064 bytes, 5,419 in base64url. */
const CHECK_PAD = /^[A-Za-z0-9_-]{22,5419}$/;

/**
 * The check pads this relay received (renewal.md, "Check pads"): per (file, epoch, dealer), 16 bytes per
 * parity equation, which the relay XORs into its tags. Kept in the chunk store (padsStorageId, one object
 * with the chunk-0 contribution's header naming its length), committed before the contribution is
 * acknowledged: a relay killed mid-deal or mid-prepare and restarted still holds every pad it acknowledged,
 * so the coordinator resumes the renewal instead of starting over. The store's exactly-once commit refuses a
 * second, different set from the same dealer, as for contributions. A check that answers consumes them: pads
 * used under one check key are never used under another (the two answers' XOR would unmask the tags).
 */
class CheckPads {
  constructor(readonly store: ChunkStore) {}

  /** A dealer's pads for this relay, stored under `head` (the contribution's header) with its length. */
  async receive(fileId: string, epoch: number, dealer: number, head: Buffer, pad: Buffer): Promise<void> {
    const stored = Buffer.concat([head, pad]);
    stored.writeUInt32BE(pad.length, 32);
    await commitBytes(this.store, padsStorageId(fileId, epoch, dealer), 0, stored).catch((err: unknown) => {
      if (hasErrorCode(err, 'CONFLICT')) throw new KofnError('CONFLICT', 'This dealer already sent other check pads.', { cause: err });
      throw err;
    });
  }

  /** XOR of every dealer's pads, 16 bytes per equation; undefined when one is missing or of another shape. */
  async sum(fileId: string, epoch: number, dealers: readonly number[], eqs: number): Promise<Buffer | undefined> {
    const acc = Buffer.alloc(16 * eqs);
    for (const d of dealers) {
      const r = await readChunk(this.store, padsStorageId(fileId, epoch, d), 0).catch(() => undefined);
      const pad = r?.bytes.subarray(HEADER_BYTES);
      if (pad?.length !== acc.length) return undefined;
      for (let b = 0; b < acc.length; b++) acc[b]! ^= pad[b]!;
    }
    return acc;
  }

  async forget(fileId: string, epoch: number, dealers: readonly number[]): Promise<void> {
    for (const d of dealers) await this.store.deleteFile(padsStorageId(fileId, epoch, d));
  }
}

/** Open check ranges are kept in memory this long (a renewal's deal-to-check takes minutes; tokens live 15). */
const CHECK_TTL_MS = 2 * 60 * 60_000;
/** Checks in progress over ranges held at once on one relay (a few hundred bytes each). */
const MAX_OPEN_CHECKS = 5_000;

/**
 * Tags of a check in progress over ranges of chunks (route `check` with `from`/`to`), by (file, epoch, check
 * key, equations), with the chunk the next range must start at. In memory, bounded in number and time like
 * nothing else: a lost entry (a restart mid-check) makes the check answer RENEWAL_INCOMPLETE and the renewal start again.
 */
class PartialTags {
  readonly #open = new Map<string, { tags: Buffer[]; next: number; expires: number }>();

  keep(key: string, next: number, tags: Buffer[]): void {
    const now = Date.now();
    for (const [k, v] of this.#open) if (v.expires < now) this.#open.delete(k);
    if (this.#open.size >= MAX_OPEN_CHECKS && !this.#open.has(key)) throw new KofnError('UNAVAILABLE', 'Too many renewal checks in progress on this storage server.');
    this.#open.set(key, { tags, next, expires: now + CHECK_TTL_MS });
  }

  /** The tags so far if the check stopped just before `from`; the entry is consumed either way. */
  take(key: string, from: number): Buffer[] | undefined {
    const open = this.#open.get(key);
    this.#open.delete(key);
    return open?.next === from && open.expires >= Date.now() ? open.tags : undefined;
  }
}

/** At most this many chunks per range drop (a deal range is at most 16 MiB of share chunks: step-ranges.ts). */
const MAX_DROP_RANGE = 65_536;

/** The optional `from`/`to` of a contribution drop: both or neither, indexes, from <= to, bounded. */
function contributionRange(from: string | undefined, to: string | undefined): { from: number; to: number } | undefined {
  if (from === undefined && to === undefined) return undefined;
  const f = from === undefined ? undefined : parseChunkIndex(from);
  const t = to === undefined ? undefined : parseChunkIndex(to);
  if (f === undefined || t === undefined || f > t || t - f >= MAX_DROP_RANGE)
    throw new KofnError('BAD_REQUEST', `"from" and "to" expected chunk indexes, from <= to, at most ${MAX_DROP_RANGE} chunks.`);
  return { from: f, to: t };
}

/** The last chunk index of a listing (chunk 0 is the metadata record; every index up to it is present). */
function lastIndex(chunks: ReadonlyArray<{ index: number }>): number {
  return chunks.reduce((m, c) => Math.max(m, c.index), 0);
}

/** A check-pad header: 16 bytes per equation in base64url, sent with chunk 0's contribution only. */
function parseCheckPad(raw: string, index: number): Buffer {
  const bad = () => new KofnError('BAD_REQUEST', 'Check pads are 16 bytes per equation in base64url, on chunk 0 only.');
  if (index !== 0 || !CHECK_PAD.test(raw)) throw bad();
  const pad = Buffer.from(raw, 'base64url');
  if (pad.length % 16 !== 0) throw bad();
  return pad;
}

/**
 * A dealer's check pads for `n` receivers and `eqs` equations: uniform 16-byte pads per receiver and
 * equation (random.ts), the last receiver's the XOR of the others', so they cancel over all receivers.
 */
export function zeroSumPads(n: number, eqs: number): Buffer[] {
  const pads = Array.from({ length: n - 1 }, () => Buffer.from(randomBytes(16 * eqs)));
  const last = Buffer.alloc(16 * eqs);
  for (const p of pads) for (let b = 0; b < last.length; b++) last[b]! ^= p[b]!;
  return [...pads, last];
}

/**
 * Compact mode (issue #23, shared/docs/compact-mode.md): a compact file's data chunks are Reed-Solomon
 * fragments of AES-256-GCM ciphertext, the values P(x_j) of one polynomial whose values at the data points
 * ARE the ciphertext. They are not Shamir shares of anything: adding an update polynomial with d(0) = 0
 * would move P off the ciphertext and destroy the file. Renewal re-randomises only chunk 0 (the Shamir-split
 * record holding the file key); a data fragment is carried to the new epoch byte for byte (only the
 * header's epoch changes). The relay decides this from its own stored header, not from a dealer: a dealer
 * that sent an update for a fragment anyway could not make it count.
 */
export function isCompactData(h: Pick<ShareHeader, 'mode' | 'flags'>): boolean {
  return h.mode === MODE_COMPACT && (h.flags & FLAG_METADATA) === 0;
}

/** Where epoch `epoch` of a file is stored (shared/src/epoch-ids.ts: one derivation for relay and recovery). */
export const epochId = epochStorageId;
/** Where a dealer's contribution to an epoch is stored until prepare consumes it. */
export const contributionId = contributionStorageId;

function parseEpoch(raw: string | undefined, min: number): number {
  if (raw === undefined || !/^(0|[1-9][0-9]{0,9})$/.test(raw) || Number(raw) > MAX_EPOCH || Number(raw) < min) {
    throw new KofnError('BAD_REQUEST', `Epoch must be an integer ${min}..${MAX_EPOCH}.`);
  }
  return Number(raw);
}

function parseX(raw: string | undefined): number {
  if (raw === undefined || !/^[1-9][0-9]{0,2}$/.test(raw) || Number(raw) > 255) throw new KofnError('BAD_REQUEST', 'Dealer x must be an integer 1..255.');
  return Number(raw);
}

function outOfScope(): KofnError {
  return new KofnError('TOKEN_OUT_OF_SCOPE', 'The capability token does not allow this operation.');
}

/** The path's epoch must be the token's: a token for epoch e never acts on another. */
function requireEpoch(cap: Capability, epoch: number): void {
  if (cap.ep !== epoch) throw outOfScope();
}

async function readAll(stream: Readable, size: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for await (const piece of stream as AsyncIterable<Buffer>) {
    // The store said `size`; more is a corrupt store, never a reason to grow the buffer.
    if (at + piece.length > size) throw new KofnError('INTERNAL', 'Stored chunk longer than its size.');
    piece.copy(out, at);
    at += piece.length;
  }
  if (at !== size) throw new KofnError('INTERNAL', 'Stored chunk shorter than its size.');
  return out;
}

/**
 * A stored chunk's bytes in one buffer of its size. On disk straight from its file into that buffer: a
 * stream would allocate a fresh 256 KiB piece per read and copy each (renewal and repair read several
 * chunks per chunk they write, and those pieces were garbage on every relay; #15/#16 RSS and CPU).
 */
export async function readStoredBytes(stored: StoredChunk, scratch?: Scratch): Promise<Buffer> {
  if (!stored.file) return readAll(stored.open(), stored.size);
  const out = scratch ? scratch.take(stored.size) : Buffer.allocUnsafe(stored.size);
  let at = 0;
  try {
    while (at < out.length) {
      const { bytesRead } = await stored.file.read(out, at, out.length - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
  } finally {
    await stored.file.close();
  }
  if (at !== out.length) throw new KofnError('INTERNAL', 'Stored chunk shorter than its size.');
  return out;
}

/**
 * A buffer reused from chunk to chunk by one request (prepare, check, deal), drawn from the relay's pool and
 * given back with `release` when the request ends: a chunk read into it makes no garbage, nor does the next
 * request. One chunk at a time: `take` answers the same memory each call, so its previous contents must be
 * done with (and wiped, when they were a share) first.
 */
export class Scratch {
  #buf: Buffer | undefined;

  take(size: number): Buffer {
    if (!this.#buf || this.#buf.length < size) {
      if (this.#buf) giveScratch(this.#buf);
      this.#buf = takeScratch(size);
    }
    return this.#buf.subarray(0, size);
  }

  /** Gives the memory back to the relay's pool (scratch-pool.ts, wiped there) at the end of the request. */
  release(): void {
    if (this.#buf) giveScratch(this.#buf);
    this.#buf = undefined;
  }
}

export async function readChunk(store: ChunkStore, id: string, index: number, scratch?: Scratch): Promise<{ bytes: Buffer; header: ShareHeader } | undefined> {
  const stored = await store.get(id, index);
  if (!stored) return undefined;
  const bytes = await readStoredBytes(stored, scratch);
  return { bytes, header: parseHeader(bytes) };
}

/**
 * The share header of a stored chunk without reading its body (a dealer needs only k, x, flags and length),
 * checked against the stored size.
 */
export async function readHeader(store: ChunkStore, id: string, index: number): Promise<ShareHeader | undefined> {
  const stored = await store.get(id, index);
  if (!stored) return undefined;
  const head = Buffer.alloc(HEADER_BYTES);
  let at = 0;
  if (stored.file) {
    try {
      at = (await stored.file.read(head, 0, HEADER_BYTES, 0)).bytesRead;
    } finally {
      await stored.file.close();
    }
  } else {
    const stream = stored.open();
    try {
      for await (const piece of stream as AsyncIterable<Buffer>) {
        at += piece.copy(head, at, 0, Math.min(piece.length, HEADER_BYTES - at));
        if (at === HEADER_BYTES) break;
      }
    } finally {
      stream.destroy();
    }
  }
  if (at !== HEADER_BYTES) throw new KofnError('INTERNAL', 'Stored chunk shorter than its header.');
  const h = parseHeaderPrefix(head);
  if (stored.size !== HEADER_BYTES + h.bodyLength) throw new KofnError('INTERNAL', 'Stored chunk length does not match its header.');
  return h;
}

/** Writes `bytes` durably into a spool file (as ingest does for uploads) and commits it under `id`. */
export async function commitBytes(store: ChunkStore, id: string, index: number, bytes: Uint8Array): Promise<ChunkInfo> {
  const path = join(store.spoolDir, `${randomUuid()}.part`);
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  const spooled: Spooled = { path, size: bytes.length, digest: createHash('sha256').update(bytes).digest('hex') };
  try {
    await store.commit(id, index, spooled);
  } finally {
    await rm(path, { force: true });
  }
  return { index, size: spooled.size, digest: spooled.digest };
}

/** Reads a JSON request body of at most `max` bytes, whatever Content-Length says. */
export async function readJsonBody(c: Context, max: number): Promise<unknown> {
  const body = c.req.raw.body;
  if (!body) throw new KofnError('BAD_REQUEST', 'Expected a JSON body.');
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read().catch(() => {
      throw new KofnError('BAD_REQUEST', 'The request was interrupted before its end.');
    });
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw new KofnError('PAYLOAD_TOO_LARGE', `Request body over ${max} bytes.`);
    }
    parts.push(value);
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    throw new KofnError('BAD_REQUEST', 'The request body is not JSON.');
  }
}

/**
 * The optional range of chunks (`from`..`to`, inclusive) a deal, prepare or check request covers (#16, long
 * silent steps: shared/src/step-ranges.ts): one request per range, so none stays silent past the idle cut.
 * Absent: every chunk, as before. `last` is the file's last chunk index.
 */
function parseRange(body: unknown, last: number): { from: number; to: number } {
  const { from, to } = (body ?? {}) as { from?: unknown; to?: unknown };
  const at = (v: unknown, min: number, fallback: number): number => {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > last) throw new KofnError('BAD_REQUEST', `"from" and "to" expected integers ${min}..${last}, from <= to.`);
    return v;
  };
  const f = at(from, 0, 0);
  return { from: f, to: at(to, f, last) };
}

export interface Receiver {
  x: number;
  id: string;
  name: string;
  url: string;
  token: string;
  /** Tree files (renewal.md, "Tree files"): the receiver's group point X_g and the group's threshold k_g. */
  gx?: number;
  gk?: number;
}

/** The receivers of a tree file's deal, by group in the order listed: the group point, k_g and the positions in `receivers`. */
export interface DealTree {
  K: number;
  groups: Array<{ x: number; k: number; at: number[] }>;
}

const isByte = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= 255;

function parseReceivers(body: unknown): Receiver[] {
  const list = (body as { receivers?: unknown } | null)?.receivers;
  if (!Array.isArray(list) || list.length < 2 || list.length > 255) throw new KofnError('BAD_REQUEST', '"receivers" expected 2..255 entries.');
  const seen = new Set<number>();
  return list.map((item: unknown) => {
    const { x, id, name, url, token, gx, gk } = (item ?? {}) as Partial<Record<keyof Receiver, unknown>>;
    if (!(
      typeof x === 'number' &&
      Number.isInteger(x) &&
      x >= 1 &&
      x <= 255 &&
      !seen.has(x) &&
      typeof id === 'string' &&
      id.length <= 64 &&
      typeof name === 'string' &&
      name.length <= 200 &&
      typeof url === 'string' &&
      url.length <= MAX_URL &&
      /^https?:\/\/[^\s/?#]+$/.test(url) &&
      typeof token === 'string' &&
      token.length <= MAX_TOKEN_BYTES &&
      (gx === undefined || isByte(gx, 1)) &&
      (gk === undefined || isByte(gk, 2))
    )) {
      throw new KofnError('BAD_REQUEST', 'A receiver is malformed or its x is repeated.');
    }
    seen.add(x);
    return { x, id, name, url, token, ...(gx === undefined ? {} : { gx }), ...(gk === undefined ? {} : { gk }) };
  });
}

/**
 * The tree of a deal (renewal.md, "Tree files"), or undefined for a flat one. Every receiver has a group
 * (gx, gk) or none does; a tree names its top threshold K (absent for a flat deal). A group's receivers are
 * listed together (a group point seen again after another group is refused: two groups at one point would
 * be one polynomial dealt twice), all with the same k_g, at least k_g of them, and K is at most the number of
 * groups. Anything else is BAD_REQUEST before anything is dealt.
 */
export function parseDealTree(body: unknown, receivers: readonly Receiver[]): DealTree | undefined {
  const K = (body as { K?: unknown } | null)?.K;
  const grouped = receivers.filter((r) => r.gx !== undefined || r.gk !== undefined).length;
  if (grouped === 0) {
    if (K !== undefined) throw new KofnError('BAD_REQUEST', '"K" is for a tree file\u2019s deal; these receivers have no group.');
    return undefined;
  }
  const points = receivers.map(({ gx, gk }) => {
    if (gx === undefined || gk === undefined) throw new KofnError('BAD_REQUEST', 'Either every receiver names its group ("gx", "gk") or none does.');
    return { gx, gk };
  });
  if (!isByte(K, 2)) throw new KofnError('BAD_REQUEST', '"K" expected an integer 2..255 (the top threshold of a tree file).');
  const groups: DealTree['groups'] = [];
  points.forEach(({ gx, gk }, j) => {
    const last = groups.at(-1);
    if (last?.x === gx) {
      if (last.k !== gk) throw new KofnError('BAD_REQUEST', `The receivers of group ${gx} name two thresholds.`);
      last.at.push(j);
      return;
    }
    if (groups.some((g) => g.x === gx)) throw new KofnError('BAD_REQUEST', `Group point ${gx} appears twice (a group's receivers are listed together).`);
    groups.push({ x: gx, k: gk, at: [j] });
  });
  for (const g of groups) if (g.k > g.at.length) throw new KofnError('BAD_REQUEST', `Group ${g.x} needs ${g.k} receivers, got ${g.at.length}.`);
  if (K > groups.length) throw new KofnError('BAD_REQUEST', `The top threshold ${K} needs at least ${K} groups, got ${groups.length}.`);
  return { K, groups };
}

/** The hash a deal token binds (claim "rh"): SHA-256 of shared's dealReceiversBinding. */
export function receiversHash(receivers: ReadonlyArray<Pick<Receiver, 'x' | 'url' | 'gx' | 'gk'>>, K?: number): string {
  return createHash('sha256').update(dealReceiversBinding(receivers, K)).digest('base64url');
}

/** GMAC (AES-128-GCM, empty plaintext, `data` as additional data): GF(2)-affine in `data` for a fixed length. */
export function gmac(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  const c = createCipheriv('aes-128-gcm', key, iv);
  c.setAAD(data);
  c.final();
  return c.getAuthTag();
}

/**
 * One chunk of a tree file's deal (renewal.md, "Tree files"): D, a fresh polynomial of degree K-1 with
 * D(0) = 0 per byte, evaluated at the group points (a split of the all-zero `zeros` into the G group
 * vectors), then each group's D(X_g) split again with threshold k_g at its receivers' x's into their bodies;
 * every receiver's header is its own (its x and k_g, its group's point and K, the new epoch). Refuses
 * (BAD_REQUEST) a dealer whose own share is not a sub-share of this tree: no group in its header, another K,
 * or a group that is not the one the receivers list for this dealer's x.
 */
function dealTreeChunk(engine: ShamirEngine, h: ShareHeader, tree: DealTree, xs: readonly number[], zeros: Uint8Array, groupOuts: Scratch[], bodies: Uint8Array[], epoch: number): void {
  const mine = tree.groups.find((g) => g.at.some((j) => xs[j] === h.x));
  if (h.group?.k !== tree.K || mine?.x !== h.group.x || mine.k !== h.k) {
    throw new KofnError('BAD_REQUEST', 'This storage server\u2019s share is not a sub-share of the tree the deal names (its group, K or k_g differ).');
  }
  const len = zeros.length;
  const vectors = groupOuts.map((o) => {
    const b = o.take(len);
    return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.length);
  });
  // Coefficients from random.ts through the engine, as for a flat deal: the top split first, then each
  // group's, in order (the same two-level split the browser makes, multilevel.md "Construction").
  engine.splitInto(
    zeros,
    tree.K,
    tree.groups.map((g) => g.x),
    vectors,
    0
  );
  tree.groups.forEach((g, gi) => {
    engine.splitInto(
      vectors[gi]!,
      g.k,
      g.at.map((j) => xs[j]!),
      g.at.map((j) => bodies[j]!),
      HEADER_BYTES
    );
    for (const j of g.at) writeHeader(bodies[j]!, { ...h, x: xs[j]!, k: g.k, group: { x: g.x, k: tree.K }, epoch });
  });
  // The group vectors are shares of zero at the top level; nothing needs them once split.
  for (const v of vectors) v.fill(0);
}

export function renewalRoutes(deps: RenewalDeps): Hono {
  const { store, authorize } = deps;
  const app = new Hono();
  const engine = new ShamirEngine();
  const pads = new CheckPads(store);
  const partialTags = new PartialTags();
  const BASE = '/v1/files/:fileId/epochs/:epoch';

  const fileParam = (c: Context): string => {
    const fileId = c.req.param('fileId') ?? '';
    if (!isFileId(fileId)) throw new KofnError('BAD_REQUEST', 'File id must be 32 lowercase hex digits.');
    return fileId;
  };

  /** The chunks of the epoch before `epoch`: what a dealer deals over and what prepare and check walk. */
  const previous = async (fileId: string, epoch: number): Promise<ChunkInfo[]> => {
    const chunks = await store.list(epochId(fileId, epoch - 1));
    if (chunks.length === 0) throw new KofnError('NOT_FOUND', `No share of this file at epoch ${epoch - 1} here.`);
    return chunks;
  };

  app.put(`${BASE}/from/:dealer/chunks/:index`, async (c) => {
    const fileId = fileParam(c);
    const epoch = parseEpoch(c.req.param('epoch'), 1);
    const dealer = parseX(c.req.param('dealer'));
    const index = parseChunkIndex(c.req.param('index'));
    if (index === undefined) throw new KofnError('BAD_REQUEST', 'Chunk index must be an integer 0..4294967294.');
    const cap = await authorize(c.req.header('authorization'), 'renew_put', fileId, index);
    requireEpoch(cap, epoch);
    if (cap.dx !== dealer) throw outOfScope();
    const max = Math.min(cap.max ?? deps.maxChunkBytes, deps.maxChunkBytes);
    const raw = c.req.header('content-length');
    if (raw !== undefined && (!/^\d{1,15}$/.test(raw) || Number(raw) > max)) {
      throw new KofnError(/^\d{1,15}$/.test(raw) ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST', 'Bad or too large Content-Length.');
    }
    const padHeader = c.req.header(CHECK_PAD_HEADER);
    const pad = padHeader === undefined ? undefined : parseCheckPad(padHeader, index);
    const spooled = await ingest(requestBody(c), { spoolDir: store.spoolDir, maxBytes: max, expectedLength: raw === undefined ? undefined : Number(raw), fileId, index });
    try {
      const head = Buffer.alloc(HEADER_BYTES);
      const fh = await open(spooled.path, 'r');
      try {
        await fh.read(head, 0, HEADER_BYTES, 0);
      } finally {
        await fh.close();
      }
      if (head.readUInt32BE(28) !== epoch) throw new KofnError('BAD_SHARE_FORMAT', 'Contribution header names another epoch than the URL.');
      // The pads are stored before the contribution, so an acknowledged chunk 0 always has its pads on disk.
      if (pad) await pads.receive(fileId, epoch, dealer, head, pad);
      // Exactly once: the store refuses a second, different contribution at the same place (CONFLICT).
      const { created } = await store.commit(contributionId(fileId, epoch, dealer), index, spooled);
      return c.json({ index, size: spooled.size, digest: spooled.digest, created }, created ? 201 : 200);
    } finally {
      await rm(spooled.path, { force: true });
    }
  });

  app.post(`${BASE}/deal`, async (c) => {
    const fileId = fileParam(c);
    const epoch = parseEpoch(c.req.param('epoch'), 1);
    const cap = await authorize(c.req.header('authorization'), 'renew_deal', fileId);
    requireEpoch(cap, epoch);
    const body = await readJsonBody(c, MAX_DEAL_BODY_BYTES);
    const receivers = parseReceivers(body);
    const tree = parseDealTree(body, receivers);
    // The receivers (x, URL and, for a tree, their groups and K) are the coordinator's, bound by the signed
    // token: a stolen deal token cannot send this relay's sub-shares to another host or another group.
    if (receiversHash(receivers, tree?.K) !== cap.rh) throw outOfScope();
    // A replacement at a fresh x moves one point of a flat sharing; inside a tree it would have to be dealt
    // within one group and is not built (renewal.md, "Tree files").
    if (tree && cap.fx !== undefined) throw new KofnError('BAD_REQUEST', 'A tree file\u2019s renewal cannot replace a storage server at a fresh x.');
    // nodeFetch: the n sub-shares go out from the reused buffers below as they are (fetch copies each one).
    const clients = receivers.map(
      (r) => new RelayClient({ id: r.id, name: r.name, url: r.url }, { token: () => r.token, fetch: nodeFetch, ...(deps.clientTimeouts ? { timeouts: deps.clientTimeouts } : {}) })
    );
    const xs = receivers.map((r) => r.x);
    // A tree's sharing, as the check weights see it (shared treeEquationCount: the pads' count must match).
    const sharing = tree && { k: tree.K, groups: tree.groups.map((g) => ({ x: g.x, k: g.k, xs: g.at.map((j) => xs[j]!) })) };
    // Check pads (renewal.md, "Check pads"), one set per receiver, sent with chunk 0's contribution; the
    // number of equations is n - k + 1 (k from the share header), or a tree's count.
    let dealt = 0;
    const chunks = await previous(fileId, epoch);
    const { from, to } = parseRange(body, lastIndex(chunks));
    // Reused from chunk to chunk and from request to request (#15, dealer RSS; scratch-pool.ts): one all-zero
    // secret and n outgoing bodies (header and sub-share in one buffer, so nothing is copied to add the
    // header). Fresh buffers per chunk made ~11 MiB of garbage per 1 MiB chunk at n = 5, which under load the
    // collector let pile up to the dealer's peak RSS (relay/src/bench/durability-bench.ts).
    const zeros = new Scratch();
    const outs = xs.map(() => new Scratch());
    // A tree deal's G group vectors D(X_g), split again inside each group.
    const groupOuts = (tree?.groups ?? []).map(() => new Scratch());
    try {
      for (const info of chunks) {
        if (info.index < from || info.index > to) continue;
        // The header only: a plain renewal deals updates of zero and never needs the share's bytes.
        const h = await readHeader(store, epochId(fileId, epoch - 1), info.index);
        if (!h) continue; // deleted meanwhile: prepare will report the gap
        // Compact mode: data fragments are not re-randomised (isCompactData); nothing to deal for them.
        if (isCompactData(h)) continue;
        const len = h.bodyLength;
        // Pool buffers are ArrayBuffer-backed (Buffer.allocUnsafeSlow), never shared memory.
        const bodies = outs.map((o) => {
          const b = o.take(HEADER_BYTES + len);
          return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.length);
        });
        if (tree) {
          dealTreeChunk(engine, h, tree, xs, zeros.take(len).fill(0), groupOuts, bodies, epoch);
        } else {
          // A flat deal over a tree share would re-randomise sub-shares as one flat sharing and corrupt the file.
          if (h.group) throw new KofnError('BAD_REQUEST', 'This share belongs to a tree file: the deal must name the receivers\u2019 groups and K.');
          if (h.k > receivers.length) throw new KofnError('BAD_REQUEST', `Threshold ${h.k} needs at least ${h.k} receivers.`);
          // renewal.md step 1: a fresh degree-(k-1) polynomial per byte with zero constant term, i.e. Shamir
          // shares of an all-zero secret, coefficients from random.ts (k checked above, xs by parseReceivers).
          engine.splitInto(zeros.take(len).fill(0), h.k, xs, bodies, HEADER_BYTES);
          bodies.forEach((b, j) => writeHeader(b, { ...h, x: xs[j]!, epoch }));
        }
        // A fresh receiver (renewal.md, "Replacing a relay at a fresh x") gets lambda(fx) * y + d(fx) in one piece.
        const fresh = tree ? undefined : freshDealing(cap, xs, h.x);
        if (fresh) {
          const own = await readChunk(store, epochId(fileId, epoch - 1), info.index);
          if (!own) continue;
          addLagrangeTerm(bodies[fresh.at]!.subarray(HEADER_BYTES), own.bytes.subarray(HEADER_BYTES), fresh.lambda);
          own.bytes.fill(0);
        }
        const eqs = sharing ? treeEquationCount(sharing) : receivers.length - h.k + 1;
        const withPads = info.index === 0 ? zeroSumPads(receivers.length, eqs) : undefined;
        const sends = await Promise.allSettled(
          // The deal request's signal: a coordinator that dies mid-deal (its connection closes) stops this dealer, so
          // no contribution of the dead attempt lands after the next attempt dropped the half-made epoch.
          clients.map((client, j) => client.putContribution(fileId, epoch, h.x, info.index, bodies[j]!, c.req.raw.signal, withPads?.[j]!.toString('base64url')))
        );
        // Every send settled before the buffers are reused or wiped: nodeFetch sends them without a copy, so one
        // receiver's failure must not let the next chunk (or the wipe) overwrite bytes another is still sending.
        const failed = sends.find((s) => s.status === 'rejected');
        if (failed) throw failed.reason;
        dealt++;
      }
    } finally {
      // The updates (and a fresh receiver's Lagrange term) do not outlive the request: wiped as they go back.
      for (const o of outs) o.release();
      for (const o of groupOuts) o.release();
      zeros.release();
    }
    engine.wipe();
    return c.json({ dealt });
  });

  app.post(`${BASE}/prepare`, async (c) => {
    const fileId = fileParam(c);
    const epoch = parseEpoch(c.req.param('epoch'), 1);
    const cap = await authorize(c.req.header('authorization'), 'renew_prepare', fileId);
    requireEpoch(cap, epoch);
    const dealers = cap.dxs ?? [];
    if (dealers.length < 2) throw new KofnError('BAD_REQUEST', 'Renewal needs at least two dealers (k >= 2).');
    // A body is optional here (the range); an empty one means every chunk.
    const rangeBody = c.req.header('content-length') === '0' || !c.req.raw.body ? {} : await readJsonBody(c, MAX_CHECK_BODY_BYTES);
    if (cap.fx !== undefined) return c.json({ chunks: await prepareFresh(store, fileId, epoch, cap.fx, cap.chunks[1], dealers, rangeBody) });
    const chunks = await previous(fileId, epoch);
    const { from, to } = parseRange(rangeBody, lastIndex(chunks));
    const staged: ChunkInfo[] = [];
    // The share being made and a contribution at a time, in buffers reused from chunk to chunk.
    const scratch = { out: new Scratch(), part: new Scratch() };
    try {
      for (const info of chunks) {
        if (info.index < from || info.index > to) continue;
        // A coordinator that died mid-prepare (its connection closed) stops this walk at the next chunk: a staged
        // chunk of the dead attempt must not land after the next attempt dropped the half-made epoch.
        if (c.req.raw.signal.aborted) throw new KofnError('UNAVAILABLE', 'The coordinator went away during the prepare.');
        staged.push(await stageChunk(store, fileId, epoch, info.index, dealers, scratch));
      }
    } finally {
      // Wiped as they go back to the pool.
      scratch.out.release();
      scratch.part.release();
    }
    return c.json({ chunks: staged });
  });

  app.post(`${BASE}/check`, async (c) => {
    const fileId = fileParam(c);
    const epoch = parseEpoch(c.req.param('epoch'), 1);
    const cap = await authorize(c.req.header('authorization'), 'renew_check', fileId);
    requireEpoch(cap, epoch);
    const body = await readJsonBody(c, MAX_CHECK_BODY_BYTES);
    const key = body as { key?: unknown } | null;
    const k = typeof key?.key === 'string' && /^[A-Za-z0-9_-]{22}$/.test(key.key) ? Buffer.from(key.key, 'base64url') : undefined;
    if (k?.length !== 16) throw new KofnError('BAD_REQUEST', '"key" expected 16 bytes, base64url.');
    const weights = cap.w ?? [];
    const dealers = cap.dxs ?? [];
    if (dealers.length < 2) throw new KofnError('BAD_REQUEST', 'The check needs the renewal\u2019s dealers (k >= 2).');
    // The fresh receiver (claim fx) has no share of the epoch before: it walks the token's chunks, tags new
    // alone; every other relay tags w * new + wo * old (renewal-fresh.ts checkVector; wo absent = w).
    const fresh = cap.fx !== undefined;
    const oldWeights = cap.wo ?? weights;
    const chunks = fresh ? Array.from({ length: cap.chunks[1] + 1 }, (_, index) => ({ index })) : await previous(fileId, epoch);
    const last = lastIndex(chunks);
    const { from, to } = parseRange(body, last);
    // Ranges of one check come in order, each adding to tags kept here between requests (in memory: a
    // restart loses them, and the check answers RENEWAL_INCOMPLETE as for lost pads); the tags are answered,
    // masked, only with the last range: a partial tag never leaves the relay unmasked.
    const partial = `${fileId}:${epoch}:${k.toString('base64url')}:${weights.length}`;
    const tags = from === 0 ? weights.map(() => Buffer.alloc(16)) : partialTags.take(partial, from);
    const plain = !fresh && weights.every((w, eq) => w === oldWeights[eq]);
    // One chunk at a time: the old and new shares, the update and each equation's vector in reused buffers.
    const scratch = { old: new Scratch(), next: new Scratch(), vector: new Scratch(), update: new Scratch() };
    const updateInto = (oldBody: Uint8Array, newBody: Uint8Array): Uint8Array => {
      const u = scratch.update.take(newBody.length);
      u.set(oldBody);
      xorInto(u, newBody);
      return u;
    };
    try {
      if (!tags) throw new KofnError('RENEWAL_INCOMPLETE', `This storage server holds no check in progress up to chunk ${from} (it restarted, or a range was skipped); the renewal must start again.`);
      for (const info of chunks) {
        if (info.index < from || info.index > to) continue;
        const old = fresh ? undefined : await readChunk(store, epochId(fileId, epoch - 1), info.index, scratch.old);
        const next = await readChunk(store, epochId(fileId, epoch), info.index, scratch.next);
        if ((!fresh && !old) || !next) throw new KofnError('RENEWAL_INCOMPLETE', `Chunk ${info.index} is not staged for epoch ${epoch}.`);
        if (old && next.bytes.length !== old.bytes.length) throw new KofnError('RENEWAL_INCOMPLETE', `Staged chunk ${info.index} has another length.`);
        // A plain renewal's vector is w * (new - old) for every equation: the update is made once per chunk, in a
        // buffer reused from chunk to chunk (a relay below k tags n - k + 1 equations: one update, not one each).
        const u = plain && old ? updateInto(old.bytes.subarray(HEADER_BYTES), next.bytes.subarray(HEADER_BYTES)) : undefined;
        weights.forEach((w, eq) => {
          const vector = u ? mulConstantInto(u, w, scratch.vector.take(u.length)) : checkVector(old?.bytes.subarray(HEADER_BYTES), next.bytes.subarray(HEADER_BYTES), w, oldWeights[eq]!);
          const t = gmac(k, checkNonce(eq, info.index), vector);
          vector.fill(0);
          for (let b = 0; b < 16; b++) tags[eq]![b]! ^= t[b]!;
        });
        u?.fill(0);
        old?.bytes.fill(0);
        next.bytes.fill(0);
      }
      if (to < last) {
        partialTags.keep(partial, to + 1, tags);
        return c.json({ next: to + 1 });
      }
      // Only the last range needs the pads (earlier ones answer nothing about the tags).
      const masks = await pads.sum(fileId, epoch, dealers, weights.length);
      if (!masks)
        throw new KofnError('RENEWAL_INCOMPLETE', 'This storage server does not hold every dealer\u2019s check pads (a dealer sent none, or a check already used them); the renewal must start again.');
      // The pads: with one honest dealer, every proper subset of the tags the coordinator sees is uniformly
      // random, and they cancel in the XOR over all relays, which is all the check reads.
      tags.forEach((t, eq) => {
        for (let b = 0; b < 16; b++) t[b]! ^= masks[16 * eq + b]!;
      });
      // Used once: a second check of this epoch (another key) must not reuse these pads, so it finds none and
      // answers RENEWAL_INCOMPLETE (the coordinator then renews from the start, with fresh pads).
      await pads.forget(fileId, epoch, dealers);
      return c.json({ tags: tags.map((t) => t.toString('base64url')) });
    } finally {
      // Back to the relay's pool, wiped there.
      for (const sc of Object.values(scratch)) sc.release();
    }
  });

  app.delete(BASE, async (c) => {
    const fileId = fileParam(c);
    const epoch = parseEpoch(c.req.param('epoch'), 0);
    const cap = await authorize(c.req.header('authorization'), 'renew_drop', fileId);
    requireEpoch(cap, epoch);
    // A range (renewal resumed by range after a coordinator restart): only the dealers' contributions to those
    // chunks go, a deal range cut midway; less than the whole drop the token allows.
    const range = contributionRange(c.req.query('from'), c.req.query('to'));
    if (range) {
      let dropped = 0;
      for (const d of cap.dxs ?? []) for (let i = range.from; i <= range.to; i++) if (await store.delete(contributionId(fileId, epoch, d), i)) dropped++;
      // Chunk 0 carries the check pads; its re-deal sends a fresh set, which must not meet the old one.
      if (range.from === 0) await pads.forget(fileId, epoch, cap.dxs ?? []);
      return c.json({ deleted: dropped });
    }
    let deleted = await store.deleteFile(epochId(fileId, epoch));
    for (const d of cap.dxs ?? []) deleted += await store.deleteFile(contributionId(fileId, epoch, d));
    await pads.forget(fileId, epoch, cap.dxs ?? []);
    return c.json({ deleted });
  });

  return app;
}

/**
 * Prepare on the fresh receiver of a renewal that replaces a relay (renewal.md, "Replacing a relay at a fresh
 * x"): chunks `from`..`to` of 0..`last` (the token's chunk range: this relay has no epoch before to list).
 * A relay that holds any chunk of the epoch before refuses: it would hold two points of that epoch's
 * polynomial afterwards (its own and, with the old share, the fresh one's neighbour), so the coordinator's
 * choice of a relay already holding the file is a bug it must not act on.
 */
async function prepareFresh(store: ChunkStore, fileId: string, epoch: number, fx: number, last: number, dealers: readonly number[], body: unknown): Promise<ChunkInfo[]> {
  if ((await store.list(epochId(fileId, epoch - 1))).length > 0) throw new KofnError('CONFLICT', 'This storage server holds a share of the epoch before; it cannot take a fresh share of this file.');
  const { from, to } = parseRange(body, last);
  const staged: ChunkInfo[] = [];
  for (let index = from; index <= to; index++) {
    staged.push(await stageFreshChunk({ readChunk, commitBytes }, store, { target: epochId(fileId, epoch), contribution: (d) => contributionId(fileId, epoch, d) }, { index, epoch, fx }, dealers));
  }
  return staged;
}

/**
 * renewal.md step 3 for one chunk: share + every dealer's contribution, with the new epoch in the header,
 * committed at the epoch's id; then the contributions go (they and the old share give the new one). Run
 * again after a crash, a chunk already staged whose contributions are gone counts as done.
 */
async function stageChunk(store: ChunkStore, fileId: string, epoch: number, index: number, dealers: readonly number[], scratch: { out: Scratch; part: Scratch }): Promise<ChunkInfo> {
  const target = epochId(fileId, epoch);
  const done = await store.head(target, index);
  if (done) {
    // Staged by an earlier prepare that stopped before (or while) dropping the contributions: it stands.
    for (const d of dealers) await store.delete(contributionId(fileId, epoch, d), index);
    return done;
  }
  const old = await readChunk(store, epochId(fileId, epoch - 1), index, scratch.out);
  if (!old) throw new KofnError('RENEWAL_INCOMPLETE', `Chunk ${index} of epoch ${epoch - 1} is missing.`);
  // The old share is read into the request's scratch: the new share is summed into it (no 1 MiB copy per chunk).
  const out = old.bytes;
  const h = old.header;
  if (isCompactData(h)) {
    // Compact mode: the fragment goes to the new epoch unchanged; a contribution for it is never applied.
    out.writeUInt32BE(epoch, 28);
    const info = await commitBytes(store, target, index, out);
    for (const d of dealers) await store.delete(contributionId(fileId, epoch, d), index);
    return info;
  }
  let missing: number | undefined;
  for (const d of dealers) {
    const part = await readChunk(store, contributionId(fileId, epoch, d), index, scratch.part).catch((err: unknown) => {
      throw new KofnError('RENEWAL_BAD_CONTRIBUTION', `The contribution of the dealer at x=${d} to chunk ${index} is malformed.`, { cause: err });
    });
    if (!part) {
      missing ??= d;
      continue;
    }
    const p = part.header;
    // A tree sub-share takes only a contribution for its own group (point and K): one dealt for another group
    // lies on another polynomial, and added here it would corrupt this group's share.
    if (p.x !== h.x || p.k !== h.k || p.flags !== h.flags || p.index !== h.index || p.bodyLength !== h.bodyLength || p.epoch !== epoch || p.group?.x !== h.group?.x || p.group?.k !== h.group?.k) {
      throw new KofnError('RENEWAL_BAD_CONTRIBUTION', `The contribution of the dealer at x=${d} to chunk ${index} does not fit this share.`);
    }
    xorInto(out.subarray(HEADER_BYTES), part.bytes.subarray(HEADER_BYTES));
    part.bytes.fill(0);
  }
  if (missing !== undefined) {
    out.fill(0);
    throw new KofnError('RENEWAL_INCOMPLETE', `The dealer at x=${missing} has not delivered chunk ${index}.`);
  }
  out.writeUInt32BE(epoch, 28);
  const info = await commitBytes(store, target, index, out);
  out.fill(0);
  for (const d of dealers) await store.delete(contributionId(fileId, epoch, d), index);
  return info;
}
