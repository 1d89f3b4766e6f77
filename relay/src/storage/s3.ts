/**
 * S3 storage (AWS or any S3-compatible store such as MinIO, with a custom endpoint and path-style URLs).
 * Object key `chunks/<fid>/<index>`; the SHA-256 of the bytes travels as object metadata `sha256`, so a
 * scrub finds bit rot without reconstruction. A PUT to S3 is atomic: an object is either whole or absent.
 * Credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ...).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { FILE_ID_HEX, KofnError, hasErrorCode } from '@kofn/shared';
import { KeyedLock } from './keyed-lock.js';
import type { ChunkInfo, ChunkStore, Spooled, StoredChunk } from './types.js';

export interface S3StoreOptions {
  bucket: string;
  region: string;
  endpoint?: string | undefined;
  forcePathStyle?: boolean | undefined;
  spoolDir: string;
  /**
   * A capacity the operator gives the bucket: free space is then capacity minus used. Without it free space
   * is not reported (null): S3 has no free-space figure, and a made-up one would mislead administrators.
   */
  capacityBytes?: number | undefined;
  credentials?: S3ClientConfig['credentials'];
  /** Connecting to S3, and any silence on an S3 connection, may last this long (ms); default 60 s. */
  timeoutMs?: number | undefined;
}

/**
 * The SDK waits forever by default: a stalled S3 (accepts, never answers) held the relay's PUT, its spool
 * file and the chunk's lock for good. Bounded like every other answer the relay reads (ARCHITECTURE.md,
 * Relays), with the client sockets' idle timeout (server-limits.ts) as the measure of silence.
 */
const S3_TIMEOUT_MS = 60_000;

const KEY = new RegExp(String.raw`^chunks/(${FILE_ID_HEX})/(\d{1,10})$`);

/**
 * Whether S3 holds a whole object the relay wrote: every relay PUT carries its SHA-256, and now its size,
 * as metadata. A store that keeps part of a PUT cut off mid-body would otherwise list a torn chunk:
 * s3rver does, keeping the bytes it got with no metadata at all and answering HEAD with the partial size
 * (found by s3-failure.test.ts). AWS S3 and MinIO refuse a short body (IncompleteBody), so there this
 * never fires. Objects written before `size` was recorded have `sha256` and pass.
 */
function whole(contentLength: number, metadata: Record<string, string> | undefined): boolean {
  if (!metadata?.sha256) return false;
  return metadata.size === undefined || Number(metadata.size) === contentLength;
}

function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/**
 * A conditional PUT refused because the key is taken (412 PreconditionFailed) or another conditional write
 * to it is in flight (409 ConditionalRequestConflict): another writer got there first.
 */
function lostRace(err: unknown): boolean {
  return status(err) === 412 || status(err) === 409;
}

function missing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

/**
 * S3 unreachable, cut off mid-request, timing out or failing on its side (5xx) is an outage the client
 * can route around (another relay, a retry later): 503 UNAVAILABLE with a code, not a 500. A 4xx from
 * S3 (credentials, bucket policy) is this relay's misconfiguration and stays an internal error, logged.
 */
function backendError(err: unknown): unknown {
  if (hasErrorCode(err)) return err;
  const code = status(err);
  if (code !== undefined && code < 500) return err;
  return new KofnError('UNAVAILABLE', 'The storage server\u2019s backend is unreachable.');
}

/** Awaits one S3 call with outages mapped to UNAVAILABLE (HEAD and GET map theirs after telling 404 apart). */
async function guarded<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw backendError(err);
  }
}

export class S3Store implements ChunkStore {
  readonly kind = 'S3' as const;
  readonly spoolDir: string;
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #capacity: number | null;
  readonly #lock = new KeyedLock();
  /** Whether PUTs carry `If-None-Match: *`: until the store refuses it (see `#put`). */
  #conditional = true;
  /** Bytes stored: listed once at start, then kept by commit and delete (heartbeats ask every few seconds). */
  #used = 0;

  constructor(opts: S3StoreOptions) {
    this.spoolDir = opts.spoolDir;
    this.#bucket = opts.bucket;
    this.#capacity = opts.capacityBytes ?? null;
    this.#s3 = new S3Client({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.forcePathStyle ?? false,
      // SDK v3 defaults to aws-chunked uploads with CRC trailers, which many S3-compatible stores (MinIO
      // before 2024, s3rver) store verbatim; we keep our own SHA-256 anyway, so ask for checksums only
      // when an operation requires them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      requestHandler: { connectionTimeout: Math.min(opts.timeoutMs ?? S3_TIMEOUT_MS, 10_000), socketTimeout: opts.timeoutMs ?? S3_TIMEOUT_MS }
    });
  }

  async init(): Promise<void> {
    const { mkdir, rm } = await import('node:fs/promises');
    await rm(this.spoolDir, { recursive: true, force: true });
    await mkdir(this.spoolDir, { recursive: true });
    this.#used = 0;
    for (const o of await this.#keys('chunks/')) this.#used += o.size;
  }

  #key(fileId: string, index: number): string {
    return `chunks/${fileId}/${index}`;
  }

  /** The chunk at `index`: whole, torn (an object that is not a whole chunk, see `whole`) or absent. */
  async #probe(fileId: string, index: number): Promise<ChunkInfo | 'torn' | undefined> {
    try {
      const h = await this.#s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(fileId, index) }));
      if (!whole(h.ContentLength ?? 0, h.Metadata)) return 'torn';
      return { index, size: h.ContentLength ?? 0, digest: h.Metadata?.sha256 ?? '' };
    } catch (err) {
      if (missing(err)) return undefined;
      throw backendError(err);
    }
  }

  async #head(fileId: string, index: number): Promise<ChunkInfo | undefined> {
    const found = await this.#probe(fileId, index);
    // A torn object was never acknowledged to anyone: it is absent, and a retried PUT replaces it.
    return found === 'torn' ? undefined : found;
  }

  /**
   * PUTs the spooled bytes only if no object exists at the key (`If-None-Match: *`, a conditional write):
   * the lock below serialises this relay's own writers, but two relay processes sharing one bucket each
   * HEAD, find nothing and PUT, and without the condition the second PUT silently replaced a chunk the
   * first had already acknowledged (issue #24). Stores that refuse the header (501) are written to
   * without it from then on; stores that ignore it (s3rver, some S3-compatible stores) keep the old
   * last-writer-wins race between relays (see the README).
   */
  async #put(fileId: string, index: number, spooled: Spooled): Promise<void> {
    const send = (conditional: boolean) =>
      this.#s3.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: this.#key(fileId, index),
          Body: createReadStream(spooled.path),
          ContentLength: spooled.size,
          ContentType: 'application/octet-stream',
          Metadata: { sha256: spooled.digest, size: String(spooled.size) },
          ...(conditional ? { IfNoneMatch: '*' } : {})
        })
      );
    if (!this.#conditional) {
      await send(false);
      return;
    }
    try {
      await send(true);
    } catch (err) {
      if (status(err) !== 501) throw err;
      this.#conditional = false;
      await send(false);
    }
  }

  commit(fileId: string, index: number, spooled: Spooled): Promise<{ created: boolean }> {
    return this.#lock.run(`${fileId}/${index}`, async () => {
      try {
        // Another relay on this bucket may write the same chunk between our HEAD and PUT: its object
        // then fails our conditional PUT, and we look again. Three looks bound a store that keeps
        // answering a conflict (AWS's 409 for conditional writes in flight on one key).
        for (let attempt = 1; ; attempt++) {
          const existing = await this.#probe(fileId, index);
          if (existing !== undefined && existing !== 'torn') {
            if (existing.digest !== spooled.digest) throw new KofnError('CONFLICT', 'A different share chunk is already stored at this index.');
            return { created: false };
          }
          // A torn object would fail the conditional PUT for good: it was never acknowledged, so it goes.
          if (existing === 'torn') await guarded(this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(fileId, index) })));
          try {
            await this.#put(fileId, index, spooled);
          } catch (err) {
            if (!lostRace(err)) throw backendError(err);
            if (attempt < 3) continue;
            // Still taken by a write that never completes into a whole chunk: the client may retry later.
            throw new KofnError('UNAVAILABLE', 'Another write to this share chunk is in progress.');
          }
          this.#used += spooled.size;
          return { created: true };
        }
      } finally {
        await unlink(spooled.path).catch(() => undefined);
      }
    });
  }

  head(fileId: string, index: number): Promise<ChunkInfo | undefined> {
    return this.#head(fileId, index);
  }

  async get(fileId: string, index: number): Promise<StoredChunk | undefined> {
    let res;
    try {
      res = await this.#s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(fileId, index) }));
    } catch (err) {
      if (missing(err)) return undefined;
      throw backendError(err);
    }
    const body = res.Body as Readable;
    if (!whole(res.ContentLength ?? 0, res.Metadata)) {
      body.destroy();
      return undefined;
    }
    return { index, size: res.ContentLength ?? 0, digest: res.Metadata?.sha256 ?? '', open: () => body };
  }

  async #keys(prefix: string): Promise<Array<{ key: string; size: number }>> {
    const out: Array<{ key: string; size: number }> = [];
    let token: string | undefined;
    do {
      const page = await guarded(this.#s3.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ContinuationToken: token })));
      for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async list(fileId: string): Promise<ChunkInfo[]> {
    const out: ChunkInfo[] = [];
    for (const { key } of await this.#keys(`chunks/${fileId}/`)) {
      const m = KEY.exec(key);
      if (!m) continue;
      const info = await this.#head(fileId, Number(m[2]));
      if (info) out.push(info);
    }
    return out.sort((a, b) => a.index - b.index);
  }

  delete(fileId: string, index: number): Promise<boolean> {
    return this.#remove(fileId, index, false);
  }

  /**
   * Removes chunk `index`; with `torn`, also an object there that is not a whole chunk (see `whole`), so
   * no byte of a deleted file outlives it. True when a whole chunk was removed.
   */
  #remove(fileId: string, index: number, torn: boolean): Promise<boolean> {
    return this.#lock.run(`${fileId}/${index}`, async () => {
      const info = await this.#head(fileId, index);
      if (!info && !torn) return false;
      // Deleting a key that does not exist is a no-op in S3.
      await guarded(this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(fileId, index) })));
      if (info) this.#used -= info.size;
      return info !== undefined;
    });
  }

  async deleteFile(fileId: string): Promise<number> {
    let n = 0;
    for (const { key } of await this.#keys(`chunks/${fileId}/`)) {
      const m = KEY.exec(key);
      if (m && (await this.#remove(fileId, Number(m[2]), true))) n++;
    }
    return n;
  }

  async usage(): Promise<{ usedBytes: number; freeBytes: number | null }> {
    return { usedBytes: this.#used, freeBytes: this.#capacity === null ? null : Math.max(0, this.#capacity - this.#used) };
  }

  async scrub(): Promise<{ checked: number; corrupt: Array<{ fileId: string; index: number }> }> {
    let checked = 0;
    const corrupt: Array<{ fileId: string; index: number }> = [];
    for (const { key } of await this.#keys('chunks/')) {
      const m = KEY.exec(key);
      if (!m) continue;
      const chunk = await this.get(m[1]!, Number(m[2]));
      if (!chunk) continue;
      const hash = createHash('sha256');
      for await (const part of chunk.open()) hash.update(part as Buffer);
      checked++;
      if (hash.digest('hex') !== chunk.digest) corrupt.push({ fileId: m[1]!, index: Number(m[2]) });
    }
    return { checked, corrupt };
  }

  destroy(): void {
    this.#s3.destroy();
  }
}
