/**
 * Streaming protect and retrieve as WHATWG TransformStreams (the shape of mozilla/send's ece.js):
 * a slicer (chunker.ts) cuts fixed-size chunks, a transformer splits each into n share chunks; on the way back,
 * share sets are combined and authenticated one chunk at a time, and a chunk's plaintext is enqueued only
 * after its tag matched. Truncation, reordering and extra chunks fail loudly: every tag binds the chunk
 * index and a final flag, and the metadata record fixes the chunk count.
 */
import { KofnError } from './errors.js';
import { createChunker } from './chunker.js';
import { FLAG_FINAL } from './chunk-format.js';
import { ShareDecoder, ShareEncoder, newMacKey } from './codec.js';
import { CompactEncoder } from './compact.js';
import { TreeDecoder, TreeEncoder, looksLikeTree } from './multilevel.js';
import type { TreeManifest } from './layout.js';
import { checkFileMetadata, chunkCountFor, type FileMetadata, type MetadataRecord } from './metadata.js';
import type { ShamirEngine } from './shamir.js';

/**
 * Default plaintext chunk: 1 MiB. Measured with `npm run bench -w shared` (see docs/format.md): split
 * throughput is flat from 256 KiB up, while memory in flight grows with the chunk; 1 MiB keeps per-request
 * overhead to relays small (one PUT per MiB per relay) and the workspace of a (5,10) split near 16 MiB.
 */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;

export interface EncodedChunk {
  /** 0 = metadata record, 1..chunkCount = data. */
  index: number;
  final: boolean;
  /** Share chunk for xs[j] at position j. */
  shares: Array<Uint8Array<ArrayBuffer>>;
}

export interface ProtectOptions {
  k: number;
  xs: readonly number[];
  fileId: Uint8Array;
  epoch?: number;
  file: Omit<FileMetadata, 'chunkSize' | 'createdAt'> & Partial<Pick<FileMetadata, 'chunkSize' | 'createdAt'>>;
  engine?: ShamirEngine;
  /**
   * 'shamir' (default): every chunk Shamir-split, information-theoretic secrecy, n times the file stored.
   * 'compact': AES-256-GCM + Reed-Solomon, n/k times the file stored, secrecy rests on AES-256
   * (docs/compact-mode.md). Retrieval needs no option: chunk 0 says which mode a file is in.
   */
  mode?: 'shamir' | 'compact';
  /**
   * Multi-level sharing (issue #21, docs/multilevel.md): split over this manifest tree instead of (k, xs);
   * share chunks come out in the order of treeRelays(tree). Shamir mode only.
   */
  tree?: TreeManifest;
}

/**
 * Plaintext bytes in, share chunks out: first the metadata record (index 0), then data chunks 1..count.
 * The input must be exactly `file.size` bytes long (a file that changes while read is an error).
 */
export async function createProtectStream(opts: ProtectOptions): Promise<{ writable: WritableStream<Uint8Array>; readable: ReadableStream<EncodedChunk> }> {
  const meta: FileMetadata = { chunkSize: DEFAULT_CHUNK_SIZE, createdAt: Date.now(), ...opts.file };
  checkFileMetadata(meta);
  const chunkCount = chunkCountFor(meta.size, meta.chunkSize);
  const macKey = newMacKey();
  const encoderOptions = { k: opts.k, xs: opts.xs, fileId: opts.fileId, epoch: opts.epoch ?? 0, ...(opts.engine ? { engine: opts.engine } : {}) };
  // ---- multi-level hook (issue #21): a tree file's encoder has the same three calls ----
  const encoder = opts.tree
    ? await TreeEncoder.create({ tree: opts.tree, fileId: opts.fileId, epoch: opts.epoch ?? 0, ...(opts.engine ? { engine: opts.engine } : {}) }, macKey)
    : opts.mode === 'compact'
      ? await CompactEncoder.create(encoderOptions, macKey)
      : await ShareEncoder.create(encoderOptions, macKey);
  const record: MetadataRecord = { ...meta, chunkCount, macKey };
  let index = 0;
  let received = 0;
  const splitter = new TransformStream<Uint8Array, EncodedChunk>({
    async start(controller) {
      controller.enqueue({ index: 0, final: chunkCount === 0, shares: await encoder.encodeMetadata(record) });
      macKey.fill(0);
    },
    async transform(data, controller) {
      index += 1;
      received += data.length;
      if (index > chunkCount || received > meta.size) throw new KofnError('INVALID_ARGUMENT', 'The file is larger than its declared size; it changed while being read.');
      const final = index === chunkCount;
      controller.enqueue({ index, final, shares: await encoder.encodeData(index, final, data) });
    },
    flush() {
      encoder.wipe();
      if (index !== chunkCount || received !== meta.size) throw new KofnError('STREAM_TRUNCATED', 'The file is shorter than its declared size; it changed while being read.');
    }
  });
  const chunker = createChunker(meta.chunkSize);
  return { writable: chunker.writable, readable: chunker.readable.pipeThrough(splitter) };
}

export interface ShareSet {
  index: number;
  /** Share chunks for this index, from k or more relays. */
  shares: readonly Uint8Array[];
}

export interface RetrieveOptions {
  fileId: Uint8Array;
  epoch?: number;
  k?: number;
  engine?: ShamirEngine;
  /**
   * Multi-level file (issue #21): true reads version-3 tree shares, false flat ones; absent, chunk 0's
   * shares decide (most of them version 3: a tree file).
   */
  tree?: boolean;
  /** Called with positions (in `shares`) of shares that were corrupt, forged or mismatched. */
  onBadShares?: (index: number, positions: number[]) => void;
}

/**
 * Share sets in (index 0 first, then 1, 2, ... in order), authenticated plaintext out. `metadata`
 * resolves once chunk 0 is verified.
 */
export function createRetrieveStream(opts: RetrieveOptions): TransformStream<ShareSet, Uint8Array> & { metadata: Promise<MetadataRecord> } {
  let decoder: ShareDecoder | TreeDecoder = new ShareDecoder(opts.engine);
  let meta: MetadataRecord | undefined;
  let next = 0;
  let resolveMeta!: (m: MetadataRecord) => void;
  let rejectMeta!: (e: unknown) => void;
  const metadata = new Promise<MetadataRecord>((res, rej) => {
    resolveMeta = res;
    rejectMeta = rej;
  });
  metadata.catch(() => undefined);
  const expected = { fileId: opts.fileId, epoch: opts.epoch, k: opts.k };
  const stream = new TransformStream<ShareSet, Uint8Array>({
    async transform(set, controller) {
      try {
        if (set.index !== next) throw new KofnError('STREAM_OUT_OF_ORDER', `Expected chunk ${next}, got chunk ${set.index}.`);
        if (meta && next > meta.chunkCount) throw new KofnError('STREAM_OUT_OF_ORDER', 'Data after the final chunk.');
        if (next === 0) {
          if (opts.tree ?? looksLikeTree(set.shares)) decoder = new TreeDecoder(opts.engine);
          const d = await decoder.decodeMetadata(set.shares, expected);
          if (d.bad.length) opts.onBadShares?.(0, d.bad);
          meta = d.meta;
          expected.k = d.k;
          expected.epoch = d.epoch;
          resolveMeta(meta);
        } else {
          const d = await decoder.decodeData(set.shares, { ...expected, index: next });
          if (d.bad.length) opts.onBadShares?.(next, d.bad);
          const m = meta;
          if (m === undefined) throw new KofnError('INTERNAL', 'A data chunk was decoded before the metadata record.');
          const final = next === m.chunkCount;
          const wantLength = final ? m.size - (m.chunkCount - 1) * m.chunkSize : m.chunkSize;
          if (((d.flags & FLAG_FINAL) !== 0) !== final || d.data.length !== wantLength) {
            throw new KofnError('STREAM_TRUNCATED', `Chunk ${next} does not fit the file's metadata.`);
          }
          controller.enqueue(d.data);
        }
        next += 1;
      } catch (err) {
        rejectMeta(err);
        throw err;
      }
    },
    flush() {
      if (!meta || next <= meta.chunkCount) {
        const err = new KofnError('STREAM_TRUNCATED', 'The file ended before its final chunk.');
        rejectMeta(err);
        throw err;
      }
    }
  });
  return Object.assign(stream, { metadata });
}
