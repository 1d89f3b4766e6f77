/**
 * Multi-level sharing (issue #21, docs/multilevel.md): one chunk's record (data || tag, exactly as a flat
 * file's) is Shamir-split (K, G) into G group shares at the groups' x, and each group share is split again
 * (k_g, n_g) at the x's of that group's relays. A relay stores one version-3 share chunk per chunk index:
 * its sub-share, with its own x and k_g, and its group's x and K (chunk-format.ts).
 *
 * Reading is the two levels backwards: each group's sub-shares are combined into the group share, and the
 * group shares are then read exactly like a flat file's shares by `ShareDecoder` (the top level IS a flat
 * (K, G) sharing): largest agreeing set, k-subsets, the tag checked over the rebuilt record, bad shares
 * named. So authentication stays end to end: nothing is released before the tag over the top-level
 * secret matched, and no code path combines fewer than K group shares or fewer than k_g sub-shares (the
 * Lagrange combine is only ever called with exactly k_g or K points).
 *
 * Both levels use the same engine (ShamirEngine: uniform coefficients from random.ts, flat memory: the G
 * group shares live in buffers reused for every chunk).
 */
import { KofnError, hasErrorCode } from './errors.js';
import { FLAG_FINAL, FLAG_METADATA, HEADER_BYTES, bytesEqual, parseHeader, writeHeader, type ShareHeader } from './chunk-format.js';
import { ShareDecoder, ShareEncoder, kSubsets, type Decoded, type Expected } from './codec.js';
import { encodeMetadata, type DecodeMetadataOptions, type MetadataRecord } from './metadata.js';
import { toHex } from './ids.js';
import { ShamirEngine, assertThreshold, assertXs } from './shamir.js';
import type { LocalGroupManifest, TreeManifest } from './layout.js';

export interface TreeEncoderOptions {
  /**
   * The manifest tree; every group local. A remote group (federation) comes here as a local group of the
   * remote deployment's relays and x's (web engine remote-groups.ts): its sub-shares are split here too.
   */
  tree: TreeManifest;
  fileId: Uint8Array;
  epoch: number;
  engine?: ShamirEngine;
}

function localGroups(tree: TreeManifest): LocalGroupManifest[] {
  return tree.groups.map((g) => {
    if (g.kind !== 'local') throw new KofnError('LAYOUT_NOT_SUPPORTED', 'Groups on other deployments are not supported yet.');
    return g;
  });
}

/**
 * Checks what the encoder relies on: K and every k_g, distinct group x's, distinct relay x's in each group.
 * Relay x's only need to differ within a group (each group's polynomial is its own, and the decoder combines
 * a group's sub-shares by group x): a remote group's x's are drawn by its own deployment's coordinator, so
 * they may meet a local group's. One coordinator's placements still draw them distinct over its own part.
 */
function checkTree(tree: TreeManifest): LocalGroupManifest[] {
  const groups = localGroups(tree);
  assertThreshold(tree.k);
  assertXs(groups.map((g) => g.x));
  if (tree.k > groups.length) throw new KofnError('LAYOUT_TOP_THRESHOLD', 'The number of groups needed is greater than the number of groups.');
  for (const g of groups) {
    assertXs(g.relays.map((r) => r.x));
    assertThreshold(g.k);
    if (g.k > g.relays.length) throw new KofnError('LAYOUT_GROUP_THRESHOLD', "A group's threshold is greater than its number of servers.");
  }
  return groups;
}

/** Grows-only buffers for the G group share chunks of one record, reused for every chunk of a stream. */
class GroupBuffers {
  #bufs: Array<Uint8Array<ArrayBuffer>> = [];
  take(count: number, size: number): Array<Uint8Array<ArrayBuffer>> {
    if (this.#bufs.length !== count || this.#bufs[0]!.length < size) this.#bufs = Array.from({ length: count }, () => new Uint8Array(Math.max(size, (this.#bufs[0]?.length ?? 0) * 2)));
    return this.#bufs;
  }
  wipe(): void {
    for (const b of this.#bufs) b.fill(0);
  }
}

/**
 * Encodes a tree file chunk by chunk. The output of each call is one share chunk per relay, in the order
 * of `treeRelays(tree)` (groups in order, each group's relays in order).
 */
export class TreeEncoder {
  readonly tree: TreeManifest;
  /** The relays' x's in output order (treeRelays order), like ShareEncoder's xs. */
  readonly xs: readonly number[];
  readonly #groups: LocalGroupManifest[];
  readonly #top: ShareEncoder;
  readonly #engine: ShamirEngine;
  readonly #fileId: Uint8Array;
  readonly #epoch: number;
  readonly #groupBufs = new GroupBuffers();
  #busy = false;

  private constructor(opts: TreeEncoderOptions, groups: LocalGroupManifest[], top: ShareEncoder, engine: ShamirEngine) {
    this.tree = opts.tree;
    this.xs = groups.flatMap((g) => g.relays.map((r) => r.x));
    this.#groups = groups;
    this.#top = top;
    this.#engine = engine;
    this.#fileId = opts.fileId.slice();
    this.#epoch = opts.epoch;
  }

  static async create(opts: TreeEncoderOptions, macKey: Uint8Array<ArrayBuffer>): Promise<TreeEncoder> {
    const groups = checkTree(opts.tree);
    const engine = opts.engine ?? new ShamirEngine();
    // The top level is a flat (K, G) sharing at the group x's: the same record, tag and randomness layout.
    const top = await ShareEncoder.create({ k: opts.tree.k, xs: groups.map((g) => g.x), fileId: opts.fileId, epoch: opts.epoch, engine }, macKey);
    return new TreeEncoder(opts, groups, top, engine);
  }

  /** Number of share chunks each call returns. */
  get relayCount(): number {
    return this.#groups.reduce((s, g) => s + g.relays.length, 0);
  }

  /**
   * The share chunks of one record: the top split first (K-1 coefficient rows per 64 KiB block), then
   * each group's share split in group order (k_g-1 rows per block): the randomness layout of the vectors.
   */
  async encode(index: number, flags: number, data: Uint8Array, into?: ReadonlyArray<Uint8Array<ArrayBuffer>>): Promise<Array<Uint8Array<ArrayBuffer>>> {
    const size = HEADER_BYTES + data.length + 16;
    if (into && (into.length !== this.xs.length || into.some((b) => b.length < size))) {
      throw new KofnError('INVALID_ARGUMENT', `"into" expected ${this.xs.length} buffers of at least ${size} bytes`);
    }
    // One call at a time: the group shares live in buffers reused by the next call.
    if (this.#busy) throw new Error('TreeEncoder.encode called concurrently');
    this.#busy = true;
    try {
      return await this.#encode(index, flags, data, size, into);
    } finally {
      this.#busy = false;
    }
  }

  async #encode(index: number, flags: number, data: Uint8Array, size: number, into?: ReadonlyArray<Uint8Array<ArrayBuffer>>): Promise<Array<Uint8Array<ArrayBuffer>>> {
    const top = await this.#top.encode(index, flags, data, this.#groupBufs.take(this.#groups.length, size));
    const outs: Array<Uint8Array<ArrayBuffer>> = [];
    this.#groups.forEach((g, gi) => {
      const share = top[gi]!.subarray(HEADER_BYTES);
      const subs = g.relays.map(() => {
        const at = outs.length;
        const out = into ? into[at]!.subarray(0, size) : new Uint8Array(size);
        outs.push(out);
        return out;
      });
      g.relays.forEach((r, j) => writeHeader(subs[j]!, { flags, x: r.x, k: g.k, fileId: this.#fileId, index, epoch: this.#epoch, bodyLength: share.length, group: { x: g.x, k: this.tree.k } }));
      this.#engine.splitInto(
        share,
        g.k,
        g.relays.map((r) => r.x),
        subs,
        HEADER_BYTES
      );
    });
    return outs;
  }

  encodeMetadata(meta: MetadataRecord): Promise<Array<Uint8Array<ArrayBuffer>>> {
    return this.encode(0, FLAG_METADATA | (meta.chunkCount === 0 ? FLAG_FINAL : 0), encodeMetadata(meta));
  }

  /** With `into` (one buffer per relay, at least shareChunkLength(data.length) bytes), writes there (ShareEncoder's contract). */
  encodeData(index: number, final: boolean, data: Uint8Array, into?: ReadonlyArray<Uint8Array<ArrayBuffer>>): Promise<Array<Uint8Array<ArrayBuffer>>> {
    return this.encode(index, final ? FLAG_FINAL : 0, data, into);
  }

  /** Zeroes plaintext and group shares left in scratch memory. */
  wipe(): void {
    this.#top.wipe();
    this.#groupBufs.wipe();
    this.#engine.wipe();
  }
}

interface Sub {
  pos: number;
  header: ShareHeader & { group: { x: number; k: number } };
  body: Uint8Array;
}

/** One possible group share: rebuilt from exactly k_g sub-shares of that group (their positions). */
interface Candidate {
  groupX: number;
  from: Sub[];
  body: Uint8Array;
}

/** Most distinct candidate group shares kept per group when its sub-shares disagree. */
const MAX_CANDIDATES = 8;

/** True when most of the share chunks that parse are tree shares (version 3): how a reader without a manifest picks the decoder. */
export function looksLikeTree(shareChunks: readonly Uint8Array[]): boolean {
  let tree = 0;
  let flat = 0;
  for (const c of shareChunks) {
    try {
      if (parseHeader(c).group) tree++;
      else flat++;
    } catch {
      // unreadable: counts for neither
    }
  }
  return tree > flat;
}

/**
 * Reads tree files chunk by chunk, with the interface of `ShareDecoder` (decodeMetadata first, then
 * decodeData per index). Positions in `used` and `bad` are positions in the caller's share-chunk array.
 */
export class TreeDecoder {
  readonly #engine: ShamirEngine;
  readonly #top: ShareDecoder;
  /** Per file: group x -> k_g, fixed by chunk 0 (a data chunk's sub-share with another k_g is dropped). */
  readonly #groupKs = new Map<string, Map<number, number>>();

  constructor(engine?: ShamirEngine) {
    this.#engine = engine ?? new ShamirEngine();
    this.#top = new ShareDecoder(this.#engine);
  }

  async decodeMetadata(shareChunks: readonly Uint8Array[], expected: Omit<Expected, 'index'>, opts: DecodeMetadataOptions = {}): Promise<Decoded & { meta: MetadataRecord & { textRepaired?: true } }> {
    const lifted = this.#lift(shareChunks, { ...expected, index: 0 }, undefined);
    const d = await this.#top.decodeMetadata(lifted.virtual, expected, opts);
    if (d.meta.compact) throw new KofnError('BAD_SHARE_FORMAT', 'A multi-level file cannot be in compact mode.');
    const ks = new Map<number, number>();
    for (const c of lifted.candidates) ks.set(c.groupX, c.from[0]!.header.k);
    this.#groupKs.set(toHex(expected.fileId), ks);
    return { ...this.#settle(d, lifted), meta: d.meta };
  }

  async decodeData(shareChunks: readonly Uint8Array[], expected: Expected, into?: ArrayBuffer): Promise<Decoded> {
    const ks = this.#groupKs.get(toHex(expected.fileId));
    if (!ks) throw new KofnError('INVALID_ARGUMENT', 'Metadata of this file must be decoded before its data.');
    if (expected.index < 1) throw new KofnError('INVALID_ARGUMENT', 'Data chunks start at index 1.');
    const lifted = this.#lift(shareChunks, expected, ks);
    return this.#settle(await this.#top.decodeData(lifted.virtual, expected, into), lifted);
  }

  /**
   * The first level backwards: checks every sub-share's header, keeps in each group the largest set that
   * agrees (epoch, K, k_g, flags, length), and rebuilds the group's share from k_g of them. When a group
   * has more than k_g sub-shares and they disagree, every distinct group share its k_g-subsets give is a
   * candidate (at most MAX_CANDIDATES); the top level then tries them like shares of one x, never two of
   * the same group together. Each candidate becomes a version-1 share chunk (x = group x, k = K) for
   * ShareDecoder.
   */
  #lift(shareChunks: readonly Uint8Array[], expected: Expected, groupKs: Map<number, number> | undefined): { virtual: Uint8Array[]; candidates: Candidate[]; bad: Set<number>; error?: KofnError } {
    const bad = new Set<number>();
    let firstError: KofnError | undefined;
    const reject = (pos: number, err: KofnError): void => {
      bad.add(pos);
      firstError ??= err;
    };
    const byGroup = new Map<number, Sub[]>();
    shareChunks.forEach((chunk, pos) => {
      try {
        const header = parseHeader(chunk);
        if (!header.group) {
          reject(pos, new KofnError('BAD_SHARE_FORMAT', 'A flat share was read as part of a multi-level file.'));
          return;
        }
        if (!bytesEqual(header.fileId, expected.fileId)) {
          reject(pos, new KofnError('MIXED_FILE', 'A share belongs to another file.'));
          return;
        }
        if (header.index !== expected.index) {
          reject(pos, new KofnError('STREAM_OUT_OF_ORDER', `Expected chunk ${expected.index}, got chunk ${header.index}.`));
          return;
        }
        if (expected.epoch !== undefined && header.epoch !== expected.epoch) {
          reject(pos, new KofnError('MIXED_EPOCH', `Share is from epoch ${header.epoch}, expected ${expected.epoch}.`));
          return;
        }
        if (expected.k !== undefined && header.group.k !== expected.k) {
          reject(pos, new KofnError('BAD_SHARE_FORMAT', 'Share top threshold differs.'));
          return;
        }
        const gk = groupKs?.get(header.group.x);
        if (gk !== undefined && gk !== header.k) {
          reject(pos, new KofnError('BAD_SHARE_FORMAT', "Share's group or group threshold differs from the file's metadata chunk."));
          return;
        }
        const sub: Sub = { pos, header: header as Sub['header'], body: chunk.subarray(HEADER_BYTES) };
        byGroup.set(header.group.x, [...(byGroup.get(header.group.x) ?? []), sub]);
      } catch (err) {
        {
          reject(pos, hasErrorCode(err) ? new KofnError(err.code, err.message) : new KofnError('BAD_SHARE_FORMAT', 'Unreadable share.'));
          return;
        }
      }
    });
    const candidates: Candidate[] = [];
    for (const [groupX, subs] of byGroup) {
      const sets = new Map<string, Sub[]>();
      for (const s of subs) {
        const key = `${s.header.epoch}/${s.header.group.k}/${s.header.k}/${s.header.flags}/${s.header.bodyLength}`;
        sets.set(key, [...(sets.get(key) ?? []), s]);
      }
      let set: Sub[] = [];
      for (const s of sets.values()) if (s.length > set.length) set = s;
      for (const s of subs) if (!set.includes(s)) reject(s.pos, new KofnError('BAD_SHARE_FORMAT', 'Shares of a group disagree.'));
      const kg = set[0]!.header.k;
      if (new Set(set.map((s) => s.header.x)).size < kg) continue; // this group cannot give its share: not a failure while K others can
      const seen: Uint8Array[] = [];
      let tries = 0;
      for (const subset of kSubsets(set.length, kg)) {
        const from = subset.map((i) => set[i]!);
        if (new Set(from.map((s) => s.header.x)).size < kg) continue;
        if (tries++ >= 64 || seen.length >= MAX_CANDIDATES) break;
        const body = new Uint8Array(set[0]!.header.bodyLength);
        this.#engine.combineInto(
          from.map((s) => s.body),
          from.map((s) => s.header.x),
          body,
          0
        );
        if (seen.some((b) => bytesEqual(b, body))) continue;
        seen.push(body);
        candidates.push({ groupX, from, body });
        // All sub-shares agree with the first subset's polynomial: it is the only candidate.
        if (seen.length === 1 && this.#consistent(from, set)) break;
      }
    }
    const virtual = candidates.map((c) => {
      const h = c.from[0]!.header;
      const out = new Uint8Array(HEADER_BYTES + c.body.length);
      writeHeader(out, { flags: h.flags, x: c.groupX, k: h.group.k, fileId: h.fileId, index: h.index, epoch: h.epoch, bodyLength: c.body.length });
      out.set(c.body, HEADER_BYTES);
      return out;
    });
    if (candidates.length === 0 && firstError) throw firstError;
    return { virtual, candidates, bad, ...(firstError ? { error: firstError } : {}) };
  }

  /** True when every sub-share of `set` lies on the polynomial through `from` (Lagrange at its x). */
  #consistent(from: Sub[], set: Sub[]): boolean {
    const probe = new Uint8Array(from[0]!.header.bodyLength);
    for (const s of set) {
      if (from.includes(s)) continue;
      this.#engine.interpolateInto(
        from.map((f) => f.body),
        from.map((f) => f.header.x),
        s.header.x,
        probe,
        0
      );
      if (!bytesEqual(probe, s.body)) return false;
    }
    return true;
  }

  /**
   * Maps the top level's result back to relay positions. `used`: the sub-shares that rebuilt the chosen
   * group shares. `bad`: sub-shares with a bad header, and, in each group whose true share is now known
   * (the authenticated top polynomial evaluated at the group's x), every sub-share that does not lie on
   * the polynomial of a k_g-subset giving that true share. A group where no k_g-subset gives the true
   * share (e.g. exactly k_g sub-shares, one altered) cannot name its liar, and names none.
   */
  #settle(d: Decoded, lifted: { virtual: Uint8Array[]; candidates: Candidate[]; bad: Set<number> }): Decoded {
    const chosen = d.used.map((i) => lifted.candidates[i]!);
    const bad = new Set(lifted.bad);
    const probe = new Uint8Array(chosen[0]!.body.length);
    const groups = new Map<number, Candidate[]>();
    for (const c of lifted.candidates) groups.set(c.groupX, [...(groups.get(c.groupX) ?? []), c]);
    for (const [groupX, cands] of groups) {
      this.#engine.interpolateInto(
        chosen.map((c) => c.body),
        chosen.map((c) => c.groupX),
        groupX,
        probe,
        0
      );
      const good = cands.find((c) => bytesEqual(c.body, probe));
      if (!good) continue;
      const members = new Map<number, Sub>();
      for (const c of cands) for (const s of c.from) members.set(s.pos, s);
      for (const s of members.values()) {
        if (good.from.includes(s)) continue;
        if (!this.#consistent(good.from, [s])) bad.add(s.pos);
      }
    }
    return {
      data: d.data,
      flags: d.flags,
      k: d.k,
      epoch: d.epoch,
      used: chosen.flatMap((c) => c.from.map((s) => s.pos)).sort((a, b) => a - b),
      bad: [...bad].sort((a, b) => a - b)
    };
  }
}
