/**
 * One chunk at a time: a record (data followed by its tag) is authenticated, split into n share chunks
 * with headers, and later rebuilt from k of them and checked before any byte of it is released.
 * `ShareDecoder` also reads compact files (compact.ts, docs/compact-mode.md): their chunk 0 is split like
 * any record, and its authenticated metadata says how to read the data chunks.
 */
import { KofnError, hasErrorCode } from './errors.js';
import { FILE_ID_BYTES, FLAG_FINAL, FLAG_METADATA, HEADER_BYTES, MODE_COMPACT, MODE_SHAMIR, bytesEqual, parseHeader, writeHeader, type ShareHeader } from './chunk-format.js';
import { GCM_TAG_BYTES, decryptChunk, importFileKey } from './compact-aead.js';
import { evaluateRows } from './erasure.js';
import { MAC_KEY_BYTES, MAC_PREFIX_BYTES, TAG_BYTES, importMacKey, macTag, writeMacPrefix } from './mac.js';
import { decodeMetadata, encodeMetadata, type DecodeMetadataOptions, type MetadataRecord } from './metadata.js';
import { toHex } from './ids.js';
import { randomBytes } from './random.js';
import { ShamirEngine, assertThreshold, assertXs } from './shamir.js';

export interface EncoderOptions {
  k: number;
  xs: readonly number[];
  fileId: Uint8Array;
  epoch: number;
  engine?: ShamirEngine;
}

/** Grows-only scratch buffer: prefix | data | tag, reused for every chunk of a stream. */
class RecordBuffer {
  #buf = new Uint8Array(0);
  take(dataLength: number): Uint8Array<ArrayBuffer> {
    const need = MAC_PREFIX_BYTES + dataLength + TAG_BYTES;
    if (this.#buf.length < need) this.#buf = new Uint8Array(Math.max(need, this.#buf.length * 2));
    return this.#buf.subarray(0, need);
  }
  wipe(): void {
    this.#buf.fill(0);
  }
}

function checkFileId(fileId: unknown): asserts fileId is Uint8Array {
  if (!(fileId instanceof Uint8Array) || fileId.length !== FILE_ID_BYTES) {
    throw new KofnError('INVALID_ARGUMENT', '"fileId" expected 16 bytes');
  }
}

function checkEpoch(epoch: unknown): asserts epoch is number {
  if (typeof epoch !== 'number' || !Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) {
    throw new KofnError('INVALID_ARGUMENT', '"epoch" expected integer 0..2^32-1');
  }
}

/** The checks both encoders (Shamir and compact.ts) make once per file. */
export function checkEncoderOptions(opts: EncoderOptions): void {
  assertThreshold(opts.k);
  assertXs(opts.xs);
  if (opts.k > opts.xs.length) throw new KofnError('INVALID_THRESHOLD', 'The threshold is greater than the number of servers.');
  checkFileId(opts.fileId);
  checkEpoch(opts.epoch);
}

export class ShareEncoder {
  readonly k: number;
  readonly xs: readonly number[];
  readonly fileId: Uint8Array;
  readonly epoch: number;
  readonly #engine: ShamirEngine;
  readonly #key: CryptoKey;
  readonly #record = new RecordBuffer();
  #busy = false;

  private constructor(opts: EncoderOptions, key: CryptoKey) {
    this.k = opts.k;
    this.xs = [...opts.xs];
    this.fileId = opts.fileId.slice();
    this.epoch = opts.epoch;
    this.#engine = opts.engine ?? new ShamirEngine();
    this.#key = key;
  }

  /** Validates the sharing parameters once for the whole stream. */
  static async create(opts: EncoderOptions, macKey: Uint8Array<ArrayBuffer>): Promise<ShareEncoder> {
    checkEncoderOptions(opts);
    if (!(macKey instanceof Uint8Array) || macKey.length !== MAC_KEY_BYTES) throw new KofnError('INVALID_ARGUMENT', '"macKey" expected 32 bytes');
    return new ShareEncoder(opts, await importMacKey(macKey));
  }

  /**
   * The n share chunks (header + body) of one record. One call at a time: the scratch buffer is reused.
   * With `into` (n buffers of at least shareChunkLength(data.length) bytes), the share chunks are written
   * there and views of them returned, so a caller that copies them out (into a Blob) allocates nothing.
   */
  async encode(index: number, flags: number, data: Uint8Array, into?: ReadonlyArray<Uint8Array<ArrayBuffer>>): Promise<Array<Uint8Array<ArrayBuffer>>> {
    if (this.#busy) throw new Error('ShareEncoder.encode called concurrently');
    this.#busy = true;
    try {
      const buf = this.#record.take(data.length);
      writeMacPrefix(buf, this.fileId, index, flags);
      buf.set(data, MAC_PREFIX_BYTES);
      const tag = await macTag(this.#key, index, flags, buf.subarray(0, MAC_PREFIX_BYTES + data.length));
      buf.set(tag, MAC_PREFIX_BYTES + data.length);
      const record = buf.subarray(MAC_PREFIX_BYTES);
      const size = HEADER_BYTES + record.length;
      if (into && (into.length !== this.xs.length || into.some((b) => b.length < size))) {
        throw new KofnError('INVALID_ARGUMENT', `"into" expected ${this.xs.length} buffers of at least ${size} bytes`);
      }
      const outs = this.xs.map((x, j) => {
        const out = into ? into[j]!.subarray(0, size) : new Uint8Array(size);
        writeHeader(out, { flags, x, k: this.k, fileId: this.fileId, index, epoch: this.epoch, bodyLength: record.length });
        return out;
      });
      this.#engine.splitInto(record, this.k, this.xs, outs, HEADER_BYTES);
      return outs;
    } finally {
      this.#busy = false;
    }
  }

  encodeMetadata(meta: MetadataRecord): Promise<Array<Uint8Array<ArrayBuffer>>> {
    return this.encode(0, FLAG_METADATA | (meta.chunkCount === 0 ? FLAG_FINAL : 0), encodeMetadata(meta));
  }

  encodeData(index: number, final: boolean, data: Uint8Array, into?: ReadonlyArray<Uint8Array<ArrayBuffer>>): Promise<Array<Uint8Array<ArrayBuffer>>> {
    return this.encode(index, final ? FLAG_FINAL : 0, data, into);
  }

  /** Zeroes plaintext left in scratch memory. */
  wipe(): void {
    this.#record.wipe();
    this.#engine.wipe();
  }
}

/** Length of the share chunk that carries `dataLength` bytes of a record: header, data, tag. */
export function shareChunkLength(dataLength: number): number {
  return HEADER_BYTES + dataLength + TAG_BYTES;
}

/** A fresh random MAC key for a new file. */
export function newMacKey(): Uint8Array<ArrayBuffer> {
  return randomBytes(MAC_KEY_BYTES);
}

export interface Expected {
  fileId: Uint8Array;
  index: number;
  /** When known (from the manifest); otherwise the largest agreeing group of shares wins. */
  epoch?: number | undefined;
  /** When known (from the manifest or the metadata chunk). */
  k?: number | undefined;
}

export interface Decoded {
  /** The authenticated data: a view, whose buffer also holds the record's MAC prefix and tag. */
  data: Uint8Array<ArrayBuffer>;
  flags: number;
  k: number;
  epoch: number;
  /** Positions (in the input array) of the shares that rebuilt the record. */
  used: number[];
  /** Positions of shares found corrupt, forged or mismatched; their relays should be reported. */
  bad: number[];
}

interface Candidate {
  pos: number;
  header: ShareHeader;
  body: Uint8Array;
}

/** Most subsets tried before giving up; enough for any 2 bad shares among 10. */
const MAX_SUBSETS = 256;

/** Every k-element subset of positions 0..m-1, in lexicographic order (also used by multilevel.ts). */
export function* kSubsets(m: number, k: number): Generator<number[]> {
  const idx = Array.from({ length: k }, (_, i) => i);
  for (;;) {
    yield idx.slice();
    let i = k - 1;
    while (i >= 0 && idx[i] === m - k + i) i--;
    if (i < 0) return;
    idx[i]!++;
    for (let j = i + 1; j < k; j++) idx[j] = idx[j - 1]! + 1;
  }
}

/** What decoding a file's metadata chunk yields for its data chunks. */
interface FileKeys {
  /** The GMAC key of a Shamir file's records. */
  mac: CryptoKey;
  /** Compact files: the AES-256-GCM file key and the code's data points (metadata record version 2). */
  compact?: { key: CryptoKey; dataXs: readonly number[] };
}

export class ShareDecoder {
  readonly #engine: ShamirEngine;
  readonly #keys = new Map<string, FileKeys>();

  constructor(engine?: ShamirEngine) {
    this.#engine = engine ?? new ShamirEngine();
  }

  /**
   * Rebuilds the metadata record (chunk 0) and remembers the file's key for its data chunks. Chunk 0 is
   * Shamir-split in both modes; its record says which mode the data chunks are in (docs/compact-mode.md).
   */
  async decodeMetadata(shareChunks: readonly Uint8Array[], expected: Omit<Expected, 'index'>, opts: DecodeMetadataOptions = {}): Promise<Decoded & { meta: MetadataRecord & { textRepaired?: true } }> {
    let meta: (MetadataRecord & { textRepaired?: true }) | undefined;
    const decoded = await this.#decode(shareChunks, { ...expected, index: 0 }, async (record, header, withPrefix) => {
      // The key lives inside the record it authenticates: a tampered record yields an unrelated AES key.
      const body = record.subarray(0, record.length - TAG_BYTES);
      let m: MetadataRecord & { textRepaired?: true };
      try {
        m = decodeMetadata(body, opts);
      } catch {
        return false;
      }
      const key = await importMacKey(m.macKey);
      if (!(await this.#tagMatches(key, header, withPrefix))) return false;
      if (((header.flags & FLAG_FINAL) !== 0) !== (m.chunkCount === 0)) return false;
      // The header's mode is not under the tag; the record's is. They must agree, so that no header
      // byte of chunk 0 can change without the chunk failing (and the data points fit the threshold).
      if ((m.compact !== undefined) !== (header.mode === MODE_COMPACT)) return false;
      if (m.compact && m.compact.dataXs.length !== header.k) return false;
      meta = m;
      this.#keys.set(keyId(expected.fileId), { mac: key, ...(m.compact ? { compact: { key: await importFileKey(m.macKey), dataXs: m.compact.dataXs } } : {}) });
      return true;
    });
    if (meta === undefined) throw new KofnError('INTERNAL', 'The metadata chunk was decoded without its record.');
    return { ...decoded, meta };
  }

  /**
   * Rebuilds data chunk `expected.index` (>= 1); decodeMetadata must have run for this file. With `into`
   * (an earlier result's `data.buffer`, say), the chunk is rebuilt there when it fits and `data` is a view
   * of it: a caller streaming a file reuses a few buffers instead of allocating one per chunk (Shamir
   * files only; WebCrypto decrypts a compact chunk into a buffer of its own).
   */
  async decodeData(shareChunks: readonly Uint8Array[], expected: Expected, into?: ArrayBuffer): Promise<Decoded> {
    const keys = this.#keys.get(keyId(expected.fileId));
    if (!keys) throw new KofnError('INVALID_ARGUMENT', 'Metadata of this file must be decoded before its data.');
    if (expected.index < 1) throw new KofnError('INVALID_ARGUMENT', 'Data chunks start at index 1.');
    if (keys.compact) return this.#decodeCompact(shareChunks, expected, keys.compact);
    return this.#decode(shareChunks, expected, (_record, header, withPrefix) => this.#tagMatches(keys.mac, header, withPrefix), into, MODE_SHAMIR);
  }

  /**
   * Checks the tag of a record held after room for its authenticated prefix (`prefix | data | tag`): the
   * prefix is written in place, so the data is authenticated where it lies, without a copy.
   */
  async #tagMatches(key: CryptoKey, h: ShareHeader, withPrefix: Uint8Array<ArrayBuffer>): Promise<boolean> {
    const end = withPrefix.length - TAG_BYTES;
    if (end < MAC_PREFIX_BYTES) return false;
    writeMacPrefix(withPrefix, h.fileId, h.index, h.flags);
    const tag = await macTag(key, h.index, h.flags, withPrefix.subarray(0, end));
    return bytesEqual(tag, withPrefix.subarray(end));
  }

  /**
   * Steps 1 and 2 of reading a chunk, the same in both modes: drops shares whose header is malformed or
   * belongs elsewhere (or, for data chunks, to another mode than the file's), and keeps the largest group
   * agreeing on epoch, k, flags, length, mode and padding. Throws when that group has fewer than k points.
   */
  #select(shareChunks: readonly Uint8Array[], expected: Expected, mode: number | undefined): { group: Candidate[]; k: number; bad: Set<number> } {
    const bad = new Set<number>();
    let firstError: KofnError | undefined;
    const reject = (pos: number, err: KofnError): void => {
      bad.add(pos);
      firstError ??= err;
    };

    // 1. Headers: each share must be well-formed and belong to this file and chunk.
    const parsed: Candidate[] = [];
    shareChunks.forEach((chunk, pos) => {
      try {
        const header = parseHeader(chunk);
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
        if (expected.k !== undefined && header.k !== expected.k) {
          reject(pos, new KofnError('BAD_SHARE_FORMAT', 'Share threshold differs.'));
          return;
        }
        if (header.group) {
          // A tree file's sub-share (version 3) is read by multilevel.ts's TreeDecoder, never combined flat.
          reject(pos, new KofnError('BAD_SHARE_FORMAT', 'A share of a multi-level file was read as a flat one.'));
          return;
        }
        if (mode !== undefined && (header.mode ?? MODE_SHAMIR) !== mode) {
          reject(pos, new KofnError('BAD_SHARE_FORMAT', "Share is in another mode than its file's metadata."));
          return;
        }
        parsed.push({ pos, header, body: chunk.subarray(HEADER_BYTES) });
      } catch (err) {
        reject(pos, hasErrorCode(err) ? new KofnError(err.code, err.message) : new KofnError('BAD_SHARE_FORMAT', 'Unreadable share.'));
      }
    });

    // 2. Agreement: keep the largest group that agrees on epoch, k, flags, length (and, in version 2
    // headers, mode and padding). Two shares may claim
    // the same x (one forged); both stay candidates and no subset takes both.
    const groups = new Map<string, Candidate[]>();
    for (const c of parsed) {
      const key = `${c.header.epoch}/${c.header.k}/${c.header.flags}/${c.header.bodyLength}/${c.header.mode ?? MODE_SHAMIR}/${c.header.pad ?? 0}`;
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }
    let group: Candidate[] = [];
    for (const g of groups.values()) if (g.length > group.length) group = g;
    const epochs = new Set(parsed.map((c) => c.header.epoch));
    for (const c of parsed) {
      if (!group.includes(c)) {
        reject(c.pos, epochs.size > 1 ? new KofnError('MIXED_EPOCH', 'Shares come from different epochs.') : new KofnError('BAD_SHARE_FORMAT', 'Shares disagree.'));
      }
    }
    const distinctX = new Set(group.map((c) => c.header.x)).size;
    const k = group[0]?.header.k ?? expected.k ?? 2;
    if (distinctX < k) {
      if (distinctX < group.length) firstError ??= new KofnError('DUPLICATE_X', 'Two shares claim the same x.');
      throw new KofnError(firstError?.code ?? 'NOT_ENOUGH_SHARES', firstError?.message ?? `Need ${k} shares, have ${group.length}.`);
    }
    return { group, k, bad };
  }

  async #decode(
    shareChunks: readonly Uint8Array[],
    expected: Expected,
    verify: (record: Uint8Array<ArrayBuffer>, header: ShareHeader, withPrefix: Uint8Array<ArrayBuffer>) => Promise<boolean>,
    into?: ArrayBuffer,
    mode?: number
  ): Promise<Decoded> {
    const { group, k, bad } = this.#select(shareChunks, expected, mode);

    // 3. Rebuild from k shares; try other subsets when the tag does not match. The record is rebuilt after
    // room for its authenticated prefix, so the tag is checked and the data released without copies.
    const header = group[0]!.header;
    const room = MAC_PREFIX_BYTES + header.bodyLength;
    // A buffer too small (the last chunk is the only one that differs, and it is smaller) is not an error.
    const withPrefix = into && into.byteLength >= room ? new Uint8Array(into, 0, room) : new Uint8Array(room);
    const record = withPrefix.subarray(MAC_PREFIX_BYTES);
    let tries = 0;
    for (const subset of kSubsets(group.length, k)) {
      const chosen = subset.map((i) => group[i]!);
      if (new Set(chosen.map((c) => c.header.x)).size < k) continue;
      if (tries++ >= MAX_SUBSETS) break;
      this.#engine.combineInto(
        chosen.map((c) => c.body),
        chosen.map((c) => c.header.x),
        withPrefix,
        MAC_PREFIX_BYTES
      );
      if (!(await verify(record, header, withPrefix))) continue;
      // 4. Name every other share that disagrees with the authenticated polynomial.
      const probe = new Uint8Array(header.bodyLength);
      for (const other of group) {
        if (chosen.includes(other)) continue;
        this.#engine.interpolateInto(
          chosen.map((c) => c.body),
          chosen.map((c) => c.header.x),
          other.header.x,
          probe,
          0
        );
        if (!bytesEqual(probe, other.body)) bad.add(other.pos);
      }
      return {
        data: record.subarray(0, record.length - TAG_BYTES),
        flags: header.flags,
        k,
        epoch: header.epoch,
        used: chosen.map((c) => c.pos),
        bad: [...bad].sort((a, b) => a - b)
      };
    }
    withPrefix.fill(0);
    throw new KofnError('AUTH_FAILED', `Chunk ${expected.index} failed authentication: a storage server returned altered data.`);
  }

  /**
   * A compact data chunk (docs/compact-mode.md): rebuild the k ciphertext pieces from k fragments (copies
   * where a fragment is a piece, Reed-Solomon evaluation at the missing data points otherwise), require the
   * padding to be zero, decrypt with AES-256-GCM; on failure try the next k-subset, as for Shamir. Every
   * byte of every fragment is covered: the k fragments map one-to-one onto the padded ciphertext, whose
   * bytes the GCM tag checks and whose padding must be zero. Other fragments are then named bad when they
   * differ from the fragment re-encoded at their x.
   */
  async #decodeCompact(shareChunks: readonly Uint8Array[], expected: Expected, file: { key: CryptoKey; dataXs: readonly number[] }): Promise<Decoded> {
    const { dataXs } = file;
    const { group, k, bad } = this.#select(shareChunks, { ...expected, k: dataXs.length }, MODE_COMPACT);
    const header = group[0]!.header;
    const m = header.bodyLength;
    const sealedLength = k * m - (header.pad ?? 0);
    const sealed = new Uint8Array(k * m);
    const pieces = dataXs.map((_, i) => sealed.subarray(i * m, (i + 1) * m));
    const kernel = this.#engine.kernel;
    let tries = 0;
    for (const subset of sealedLength < GCM_TAG_BYTES ? [] : kSubsets(group.length, k)) {
      const chosen = subset.map((i) => group[i]!);
      if (new Set(chosen.map((c) => c.header.x)).size < k) continue;
      if (tries++ >= MAX_SUBSETS) break;
      const missing: number[] = [];
      dataXs.forEach((x, i) => {
        const f = chosen.find((c) => c.header.x === x);
        if (f) pieces[i]!.set(f.body);
        else missing.push(i);
      });
      evaluateRows(
        kernel,
        chosen.map((c) => c.body),
        chosen.map((c) => c.header.x),
        missing.map((i) => dataXs[i]!),
        m,
        missing.map((i) => pieces[i]!),
        0
      );
      // The padding is part of the codeword: a change confined to it would otherwise pass the tag.
      if (sealed.subarray(sealedLength).some((b) => b !== 0)) continue;
      const plain = await decryptChunk(file.key, expected.fileId, expected.index, header.flags, sealed.subarray(0, sealedLength));
      if (plain === null) continue;
      const others = group.filter((o) => !chosen.includes(o));
      const probes = others.map(() => new Uint8Array(m));
      evaluateRows(
        kernel,
        pieces,
        dataXs,
        others.map((o) => o.header.x),
        m,
        probes,
        0
      );
      others.forEach((o, i) => {
        if (!bytesEqual(probes[i]!, o.body)) bad.add(o.pos);
      });
      return { data: plain, flags: header.flags, k, epoch: header.epoch, used: chosen.map((c) => c.pos), bad: [...bad].sort((a, b) => a - b) };
    }
    throw new KofnError('AUTH_FAILED', `Chunk ${expected.index} failed authentication: a storage server returned altered data.`);
  }
}

function keyId(fileId: Uint8Array): string {
  return toHex(fileId);
}
