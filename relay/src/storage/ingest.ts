/**
 * Streams a request body into a spool file: counts bytes as they arrive (stopping at the limit, whatever
 * Content-Length said), hashes them, checks the share header against the URL, fsyncs, and removes the
 * spool file on any failure. Disk full becomes INSUFFICIENT_STORAGE (507).
 */
import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { HEADER_BYTES, KofnError, fileIdToHex, parseHeaderPrefix, hasErrorCode, randomUuid } from '@kofn/shared';
import type { Spooled } from './types.js';
import { BLOCK_BYTES, giveBlock, takeBlock } from './block-pool.js';

export interface IngestOptions {
  spoolDir: string;
  maxBytes: number;
  /** Declared Content-Length, if any; the body must match it exactly. */
  expectedLength?: number | undefined;
  fileId: string;
  index: number;
}

function storageError(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new KofnError('INSUFFICIENT_STORAGE', 'The storage server is full.');
  return err;
}

/** Reads a Web stream as an async iterator; returning early cancels it, as `reader.cancel()` did. */
async function* fromWeb(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * The spool file's writer: bytes are copied into a reused block (block-pool.ts) and written a block at a
 * time with positioned writes, double-buffered, so the network keeps filling one block while the other is
 * on its way to disk. At most two blocks per upload (512 KiB), taken from and given back to the pool.
 *
 * Copying (a memcpy, about 0.05 ms/MB) lets each socket buffer die young; keeping them queued until a
 * batched write finished got them promoted under load and cost full garbage collections (block-pool.ts).
 */
class SpoolWriter {
  #block = takeBlock();
  #fill = 0;
  #pos = 0;
  /** The block being written and its write; both undefined when no write is in flight. */
  #writing: { block: Buffer; done: Promise<void> } | undefined;
  #released = false;

  constructor(private readonly fh: FileHandle) {}

  /** Queues `bytes`; resolves once they are copied (waiting only when both blocks are full). */
  async add(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.byteLength) {
      const take = Math.min(BLOCK_BYTES - this.#fill, bytes.byteLength - at);
      this.#block.set(bytes.subarray(at, at + take), this.#fill);
      this.#fill += take;
      at += take;
      if (this.#fill === BLOCK_BYTES) await this.#flush();
    }
  }

  /** Writes what is left and waits for every write. */
  async finish(): Promise<void> {
    await this.#flush();
    await this.#writing?.done;
  }

  /**
   * Gives the blocks back, after waiting for a write in flight (a failed upload) so that no block is
   * reused under it. Once only: a block given back twice would be handed to two uploads.
   */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const w = this.#writing;
    this.#writing = undefined;
    if (w) await w.done.catch(() => undefined);
    if (w) giveBlock(w.block);
    giveBlock(this.#block);
  }

  async #flush(): Promise<void> {
    if (this.#fill === 0) return;
    // The other block's write must be over before that block is filled again.
    const previous = this.#writing;
    if (previous) await previous.done;
    const block = this.#block;
    const done = writeAll(this.fh, block, this.#fill, this.#pos);
    done.catch(() => undefined); // awaited by the next flush, finish or release
    this.#pos += this.#fill;
    this.#writing = { block, done };
    this.#block = previous?.block ?? takeBlock();
    this.#fill = 0;
  }
}

/**
 * `body`: the request's bytes, either Node's `IncomingMessage` (../node-io.ts) or a Web stream
 * (`app.request()` in tests, repair's in-memory chunk). Each piece is counted, hashed once and copied into
 * the spool writer's block; the piece itself is not kept.
 */
export async function ingest(body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> | null, opts: IngestOptions): Promise<Spooled> {
  if (!body) throw new KofnError('BAD_REQUEST', 'Expected a share chunk body.');
  const source: AsyncIterable<Uint8Array> = 'getReader' in body ? fromWeb(body) : body;
  const path = join(opts.spoolDir, `${randomUuid()}.part`);
  const hash = createHash('sha256');
  const head = new Uint8Array(HEADER_BYTES);
  let size = 0;
  let declaredBody = -1;
  let fh: FileHandle | undefined;
  let writer: SpoolWriter | undefined;
  // The lib's AsyncIterable leaves the return value `any`; a body's iterator returns nothing.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
  const pieces: AsyncIterator<Uint8Array, undefined> = source[Symbol.asyncIterator]();
  try {
    fh = await open(path, 'wx', 0o600);
    writer = new SpoolWriter(fh);
    for (;;) {
      const { done, value }: IteratorResult<Uint8Array, undefined> = await pieces.next().catch((): never => {
        // The client went away mid-body (reload, cancel, network): bad input, not a relay failure.
        throw new KofnError('BAD_REQUEST', 'The upload was interrupted before its end.');
      });
      if (done) break;
      if (size + value.byteLength > opts.maxBytes) throw new KofnError('PAYLOAD_TOO_LARGE', `Share chunk over ${opts.maxBytes} bytes.`);
      if (size < HEADER_BYTES) {
        const take = Math.min(HEADER_BYTES - size, value.byteLength);
        head.set(value.subarray(0, take), size);
        if (size + take === HEADER_BYTES) declaredBody = checkHeader(head, opts);
      }
      size += value.byteLength;
      hash.update(value);
      await writer.add(value);
    }
    await writer.finish();
    await writer.release();
    if (size < HEADER_BYTES || size !== HEADER_BYTES + declaredBody) {
      throw new KofnError('BAD_SHARE_FORMAT', 'Share chunk length does not match its header.');
    }
    if (opts.expectedLength !== undefined && size !== opts.expectedLength) {
      throw new KofnError('BAD_REQUEST', 'Body length does not match Content-Length.');
    }
    // Durable before anyone is told it is stored (commit links it; a crash after this keeps whole bytes).
    await fh.sync();
    await fh.close();
    fh = undefined;
    return { path, size, digest: hash.digest('hex') };
  } catch (err) {
    await pieces.return?.().catch(() => undefined);
    await writer?.release();
    await fh?.close().catch(() => undefined);
    await rm(path, { force: true });
    throw storageError(err);
  }
}

/** Writes `length` bytes of `block` at file position `position`, continuing after short writes. */
async function writeAll(fh: FileHandle, block: Buffer, length: number, position: number): Promise<void> {
  let off = 0;
  while (off < length) {
    // A full disk may write part of the block (up to the last free block): continue after it, so the
    // next write reports ENOSPC.
    const { bytesWritten } = await fh.write(block, off, length - off, position + off);
    off += bytesWritten;
  }
}

function checkHeader(head: Uint8Array, opts: IngestOptions): number {
  let h;
  try {
    h = parseHeaderPrefix(head);
  } catch (err) {
    throw hasErrorCode(err) ? new KofnError('BAD_SHARE_FORMAT', err.message) : err;
  }
  if (fileIdToHex(h.fileId) !== opts.fileId || h.index !== opts.index) {
    throw new KofnError('BAD_SHARE_FORMAT', 'Share header names another file or chunk than the URL.');
  }
  return h.bodyLength;
}
