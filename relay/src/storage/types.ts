/**
 * Where a relay keeps share chunks. Two implementations (disk, S3) pass one shared test suite
 * (storage.test.ts). Keys derive only from validated file ids and chunk indexes, never from user names.
 *
 * Writes go in two steps: `ingest` (./ingest.ts) streams a request body into a spool file while counting,
 * hashing and checking its share header; `commit` then makes it visible atomically, or finds an identical
 * chunk already there (no-op), or a different one (CONFLICT). No partial chunk is ever visible.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';

export interface Spooled {
  path: string;
  size: number;
  /** SHA-256 of the stored bytes, hex. */
  digest: string;
}

export interface ChunkInfo {
  index: number;
  size: number;
  digest: string;
}

export interface StoredChunk extends ChunkInfo {
  /** The bytes as a stream, which closes whatever it opened when it ends or is destroyed. */
  open: () => Readable;
  /**
   * Disk only: the chunk's file, opened at `get` (so a concurrent delete cannot pull it away), for sending
   * without a stream (send-file.ts). Whoever takes the answer uses either `open()` or this, never both, and
   * closes this one when done.
   */
  file?: FileHandle;
}

export interface ChunkStore {
  readonly kind: 'Disk' | 'S3';
  /** Folder for spool files; on the same filesystem as the data for Disk, so commit is a link. */
  readonly spoolDir: string;
  init(): Promise<void>;
  commit(fileId: string, index: number, spooled: Spooled): Promise<{ created: boolean }>;
  head(fileId: string, index: number): Promise<ChunkInfo | undefined>;
  get(fileId: string, index: number): Promise<StoredChunk | undefined>;
  list(fileId: string): Promise<ChunkInfo[]>;
  delete(fileId: string, index: number): Promise<boolean>;
  deleteFile(fileId: string): Promise<number>;
  usage(): Promise<{ usedBytes: number; freeBytes: number | null }>;
  /** Re-reads every chunk and returns those whose bytes no longer match their stored checksum. */
  scrub(): Promise<{ checked: number; corrupt: Array<{ fileId: string; index: number }> }>;
}
