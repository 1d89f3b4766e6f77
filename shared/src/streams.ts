/**
 * Streaming protect and retrieve as WHATWG TransformStreams (the shape of mozilla/send's ece.js):
 * a slicer cuts fixed-size chunks, a transformer splits each into n share chunks; on the way back,
 * share sets are combined and authenticated one chunk at a time, and a chunk's plaintext is enqueued only
 * after its tag matched. Truncation, reordering and extra chunks fail loudly: every tag binds the chunk
 * index and a final flag, and the metadata record fixes the chunk count.
 */
import { KofnError } from './errors.js';
import { FLAG_FINAL } from './chunk-format.js';
import { ShareDecoder, ShareEncoder, newMacKey } from './codec.js';
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

/** Cuts a byte stream into chunks of exactly `chunkSize` bytes (the last may be shorter, never empty). */
export function createChunker(chunkSize: number): TransformStream<Uint8Array, Uint8Array> {
  let buf = new Uint8Array(chunkSize);
  let fill = 0;
  return new TransformStream({
    transform(input, controller) {
      let off = 0;
      while (off < input.length) {
        const n = Math.min(chunkSize - fill, input.length - off);
        buf.set(input.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === chunkSize) {
          controller.enqueue(buf);
          buf = new Uint8Array(chunkSize);
          fill = 0;
        }
      }
    },
    flush(controller) {
      if (fill > 0) controller.enqueue(buf.subarray(0, fill));
    }
  });
}

/**
 * Reads `stream` in chunks of exactly `chunkSize` bytes (the last may be shorter, never empty), each in a
 * buffer that `take` lends (one of at least `chunkSize` bytes; a smaller one is replaced by a new one). A
 * caller that gives buffers back to `take` reads a whole file without allocating a buffer per chunk.
 *
 * Byte streams (`Blob.stream()` in Chromium) are read BYOB, straight into the lent buffer (Streams spec,
 * "ReadableStreamBYOBReader"). Why: measured in a Chromium 156 worker over a 64 MiB Blob, BYOB reads took
 * 41 ms against 132 ms for default reads, which also hand out a fresh 1 MiB buffer per read that a
 * chunker then copies into another fresh one (page faults and garbage on every chunk). Other streams are
 * read by default and copied in.
 */
export async function* readChunks(stream: ReadableStream<Uint8Array>, chunkSize: number, take: () => ArrayBuffer): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = stream.getReader({ mode: 'byob' });
  } catch {
    // Not a byte stream: read it the default way below.
  }
  const reader = byob ?? stream.getReader();
  let rest: Uint8Array = new Uint8Array(0);
  // `as boolean`: readInto sets it, which TypeScript's narrowing does not see.
  let ended = false as boolean;
  /** Fills buf from `fill` on with what the stream has, up to chunkSize; answers the buffer (a BYOB read moves it) and the new fill. */
  const readInto = async (buf: ArrayBuffer, fill: number): Promise<[ArrayBuffer, number]> => {
    if (byob) {
      const { done, value } = await byob.read(new Uint8Array(buf, fill, chunkSize - fill));
      // Only a cancelled stream ends without giving the buffer back.
      if (!value) throw new KofnError('STREAM_TRUNCATED', 'The stream was cancelled while it was read.');
      ended = done;
      return [value.buffer, fill + value.byteLength];
    }
    if (rest.length === 0) {
      const r = await (reader as ReadableStreamDefaultReader<Uint8Array>).read();
      if (r.done) {
        ended = true;
        return [buf, fill];
      }
      rest = r.value;
    }
    const n = Math.min(chunkSize - fill, rest.length);
    new Uint8Array(buf, fill, n).set(rest.subarray(0, n));
    rest = rest.subarray(n);
    return [buf, fill + n];
  };
  try {
    while (!ended) {
      let buf = take();
      if (buf.byteLength < chunkSize) buf = new ArrayBuffer(chunkSize);
      let fill = 0;
      // readInto sets `ended`; TypeScript keeps the loop's narrowing across the call.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      while (fill < chunkSize && !ended) [buf, fill] = await readInto(buf, fill);
      if (fill > 0) yield new Uint8Array(buf, 0, fill);
    }
  } finally {
    // A consumer that stops early (an error, a cancelled upload) stops the read too.
    if (!ended) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

export interface ProtectOptions {
  k: number;
  xs: readonly number[];
  fileId: Uint8Array;
  epoch?: number;
  file: Omit<FileMetadata, 'chunkSize' | 'createdAt'> & Partial<Pick<FileMetadata, 'chunkSize' | 'createdAt'>>;
  engine?: ShamirEngine;
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
  const encoder = await ShareEncoder.create({ k: opts.k, xs: opts.xs, fileId: opts.fileId, epoch: opts.epoch ?? 0, ...(opts.engine ? { engine: opts.engine } : {}) }, macKey);
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
  /** Called with positions (in `shares`) of shares that were corrupt, forged or mismatched. */
  onBadShares?: (index: number, positions: number[]) => void;
}

/**
 * Share sets in (index 0 first, then 1, 2, ... in order), authenticated plaintext out. `metadata`
 * resolves once chunk 0 is verified.
 */
export function createRetrieveStream(opts: RetrieveOptions): TransformStream<ShareSet, Uint8Array> & { metadata: Promise<MetadataRecord> } {
  const decoder = new ShareDecoder(opts.engine);
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
