/**
 * Compact mode, the encoder side: Krawczyk, "Secret sharing made short" (CRYPTO 1993). Each data chunk is
 * encrypted with AES-256-GCM under a fresh random file key, the ciphertext is cut into k pieces and coded
 * with a systematic Reed-Solomon code (erasure.ts) into n fragments, any k of which rebuild it; only the
 * key, inside the file's metadata record (chunk 0), is Shamir-split. Storage and traffic are n/k of the
 * file instead of n; any k-1 relays learn nothing about the key, and about the data only what AES-256
 * lets through (computational, not information-theoretic, secrecy). Design: docs/compact-mode.md.
 *
 * Nonces: IV = chunk index (u32 BE) | flags | 7 zero bytes. Chunk 0 (the metadata record, GMAC) and each
 * data chunk i >= 1 use their own index, and the key is fresh for every file, so no IV repeats under a key.
 */
import { KofnError } from './errors.js';
import { FLAG_FINAL, FLAG_METADATA, HEADER_BYTES, MODE_COMPACT, writeHeader } from './chunk-format.js';
import { evaluateRows, fragmentLength } from './erasure.js';
import { checkEncoderOptions, type EncoderOptions } from './codec.js';
import { GCM_TAG_BYTES, encryptChunk, importFileKey } from './compact-aead.js';
import { MAC_KEY_BYTES, MAC_PREFIX_BYTES, TAG_BYTES, importMacKey, macTag, writeMacPrefix } from './mac.js';
import { encodeMetadata, type MetadataRecord } from './metadata.js';
import { ShamirEngine } from './shamir.js';

/** Stored length of a compact data chunk's share chunk: header + ceil((data + 16) / k). */
export function compactShareChunkLength(dataLength: number, k: number): number {
  return HEADER_BYTES + fragmentLength(dataLength + GCM_TAG_BYTES, k);
}

export class CompactEncoder {
  readonly k: number;
  readonly xs: readonly number[];
  readonly fileId: Uint8Array;
  readonly epoch: number;
  readonly #engine: ShamirEngine;
  readonly #macKey: CryptoKey;
  readonly #fileKey: CryptoKey;
  #busy = false;

  private constructor(opts: EncoderOptions, macKey: CryptoKey, fileKey: CryptoKey) {
    this.k = opts.k;
    this.xs = [...opts.xs];
    this.fileId = opts.fileId.slice();
    this.epoch = opts.epoch;
    this.#engine = opts.engine ?? new ShamirEngine();
    this.#macKey = macKey;
    this.#fileKey = fileKey;
  }

  /**
   * Validates the parameters once for the whole file. `fileKey`: 32 fresh random bytes (newMacKey()),
   * never used for another file: IVs are unique per chunk only within one key.
   */
  static async create(opts: EncoderOptions, fileKey: Uint8Array<ArrayBuffer>): Promise<CompactEncoder> {
    checkEncoderOptions(opts);
    if (!(fileKey instanceof Uint8Array) || fileKey.length !== MAC_KEY_BYTES) throw new KofnError('INVALID_ARGUMENT', '"fileKey" expected 32 bytes');
    return new CompactEncoder(opts, await importMacKey(fileKey), await importFileKey(fileKey));
  }

  /** The data points of the code: the first k relays' x (their fragments are the ciphertext pieces). */
  get dataXs(): readonly number[] {
    return this.xs.slice(0, this.k);
  }

  /**
   * Chunk 0: the metadata record (version 2: mode, key, data points) with its GMAC tag, Shamir-split like
   * a Shamir file's; the header says version 2, mode compact. `meta.macKey` is the file key.
   */
  async encodeMetadata(meta: Omit<MetadataRecord, 'compact'>): Promise<Array<Uint8Array<ArrayBuffer>>> {
    return this.#exclusive(async () => {
      const flags = FLAG_METADATA | (meta.chunkCount === 0 ? FLAG_FINAL : 0);
      const record = encodeMetadata({ ...meta, compact: { dataXs: this.dataXs } });
      const buf = new Uint8Array(MAC_PREFIX_BYTES + record.length + TAG_BYTES);
      writeMacPrefix(buf, this.fileId, 0, flags);
      buf.set(record, MAC_PREFIX_BYTES);
      buf.set(await macTag(this.#macKey, 0, flags, buf.subarray(0, MAC_PREFIX_BYTES + record.length)), MAC_PREFIX_BYTES + record.length);
      const body = buf.subarray(MAC_PREFIX_BYTES);
      const outs = this.xs.map((x) => {
        const out = new Uint8Array(HEADER_BYTES + body.length);
        writeHeader(out, { flags, x, k: this.k, fileId: this.fileId, index: 0, epoch: this.epoch, bodyLength: body.length, mode: MODE_COMPACT, pad: 0 });
        return out;
      });
      this.#engine.splitInto(body, this.k, this.xs, outs, HEADER_BYTES);
      buf.fill(0);
      return outs;
    });
  }

  /**
   * The n share chunks of data chunk `index` (>= 1): fragment j of its AES-256-GCM ciphertext at xs[j].
   * With `into` (n buffers of at least compactShareChunkLength(data.length, k) bytes), they are written
   * there and views returned, as ShareEncoder does.
   */
  async encodeData(index: number, final: boolean, data: Uint8Array, into?: ReadonlyArray<Uint8Array<ArrayBuffer>>): Promise<Array<Uint8Array<ArrayBuffer>>> {
    if (!Number.isInteger(index) || index < 1 || index > 0xffffffff) throw new KofnError('INVALID_ARGUMENT', '"index" expected integer 1..2^32-1');
    return this.#exclusive(async () => {
      const flags = final ? FLAG_FINAL : 0;
      // A view over a SharedArrayBuffer is not a BufferSource WebCrypto takes; copy only then.
      const plain = data.buffer instanceof ArrayBuffer ? (data as Uint8Array<ArrayBuffer>) : data.slice();
      const ct = await encryptChunk(this.#fileKey, this.fileId, index, flags, plain);
      const k = this.k;
      const m = fragmentLength(ct.length, k);
      const pad = k * m - ct.length;
      const size = HEADER_BYTES + m;
      if (into && (into.length !== this.xs.length || into.some((b) => b.length < size))) {
        throw new KofnError('INVALID_ARGUMENT', `"into" expected ${this.xs.length} buffers of at least ${size} bytes`);
      }
      const outs = this.xs.map((x, j) => {
        const out = into ? into[j]!.subarray(0, size) : new Uint8Array(size);
        writeHeader(out, { flags, x, k, fileId: this.fileId, index, epoch: this.epoch, bodyLength: m, mode: MODE_COMPACT, pad });
        return out;
      });
      const pieces = Array.from({ length: k }, (_, i) => ct.subarray(i * m, (i + 1) * m));
      // Systematic: the first k fragments are the pieces themselves (the last zero-padded).
      for (let i = 0; i < k; i++) {
        outs[i]!.set(pieces[i]!, HEADER_BYTES);
        outs[i]!.fill(0, HEADER_BYTES + pieces[i]!.length, size);
      }
      evaluateRows(this.#engine.kernel, pieces, this.dataXs, this.xs.slice(k), m, outs.slice(k), HEADER_BYTES);
      return outs;
    });
  }

  /** Zeroes the kernel's workspace (the last chunk's ciphertext; plaintext never enters it). */
  wipe(): void {
    this.#engine.wipe();
  }

  async #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#busy) throw new Error('CompactEncoder called concurrently');
    this.#busy = true;
    try {
      return await fn();
    } finally {
      this.#busy = false;
    }
  }
}
