/**
 * Streams a request body into a spool file: counts bytes as they arrive (stopping at the limit, whatever
 * Content-Length said), hashes them, checks the share header against the URL, fsyncs, and removes the
 * spool file on any failure. Disk full becomes INSUFFICIENT_STORAGE (507).
 */
import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HEADER_BYTES, KofnError, fileIdToHex, parseHeaderPrefix, hasErrorCode, randomUuid } from '@kofn/shared';
import type { Spooled } from './types.js';

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
 * `body`: the request's bytes, either Node's `IncomingMessage` (../node-io.ts, no copy) or a Web
 * stream (`app.request()` in tests, repair's in-memory chunk). Each piece is counted, hashed once and
 * queued for writing without being copied.
 */
export async function ingest(body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> | null, opts: IngestOptions): Promise<Spooled> {
  if (!body) throw new KofnError('BAD_REQUEST', 'Expected a share chunk body.');
  const source: AsyncIterable<Uint8Array> = 'getReader' in body ? fromWeb(body) : body;
  const path = join(opts.spoolDir, `${randomUuid()}.part`);
  const hash = createHash('sha256');
  const head = new Uint8Array(HEADER_BYTES);
  let size = 0;
  let declaredBody = -1;
  let fh: import('node:fs/promises').FileHandle | undefined;
  // Network reads arrive in ~64 KiB pieces; writing them in 256 KiB batches (writev) saves syscalls.
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pendingBytes === 0) return;
    const parts = pending;
    pending = [];
    pendingBytes = 0;
    if (fh === undefined) throw new KofnError('INTERNAL', 'The spool file was not open.');
    await writeAll(fh, parts);
  };
  // The lib's AsyncIterable leaves the return value `any`; a body's iterator returns nothing.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
  const pieces: AsyncIterator<Uint8Array, undefined> = source[Symbol.asyncIterator]();
  try {
    fh = await open(path, 'wx', 0o600);
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
      pending.push(value);
      pendingBytes += value.byteLength;
      if (pendingBytes >= WRITE_BLOCK) await flush();
    }
    await flush();
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
    await fh?.close().catch(() => undefined);
    await rm(path, { force: true });
    throw storageError(err);
  }
}

/** Large batches cap memory per upload at WRITE_BLOCK plus one network read. */
const WRITE_BLOCK = 256 * 1024;

async function writeAll(fh: import('node:fs/promises').FileHandle, parts: Uint8Array[]): Promise<void> {
  let rest = parts;
  while (rest.length > 0) {
    let { bytesWritten } = await fh.writev(rest);
    // writev may write part of the batch (a full disk writes up to the last block): continue after it.
    const next: Uint8Array[] = [];
    for (const p of rest) {
      if (bytesWritten >= p.byteLength) {
        bytesWritten -= p.byteLength;
        continue;
      }
      next.push(bytesWritten > 0 ? p.subarray(bytesWritten) : p);
      bytesWritten = 0;
    }
    rest = next;
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
