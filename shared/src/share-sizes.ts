/**
 * The exact sizes of a file's share chunks, from its plaintext size and chunk size alone: what the
 * coordinator bounds put tokens with and checks every relay's stored chunks against at commit (issue #13
 * item 8b: protected bytes counted the size the client declared while put tokens allowed any bytes). See
 * docs/format.md, "Share chunk sizes".
 *
 *   share chunk = header (40) + record, record = data + tag (16)
 *   chunk 0: data = metadata record, 61 fixed bytes + name (1..1024 B UTF-8) + type (0..255 B UTF-8)
 *   chunk i in 1..count: data = chunkSize bytes, except the last = size - (count - 1) * chunkSize
 *
 * Compact files (docs/compact-mode.md) have other sizes: chunk 0's record adds 2 + k bytes, and data chunk
 * i is header (40) + ceil((data + 16) / k) on every relay (`compactShareChunkBounds`).
 */
import { HEADER_BYTES } from './chunk-format.js';
import { GCM_TAG_BYTES } from './compact-aead.js';
import { fragmentLength } from './erasure.js';
import { MAC_KEY_BYTES, TAG_BYTES } from './mac.js';
import { MAX_NAME_BYTES, MAX_TYPE_BYTES, chunkCountFor } from './metadata.js';

/** version, MAC key, size, chunk size, chunk count, created, name length, type length (metadata.ts). */
export const METADATA_FIXED_BYTES = 1 + MAC_KEY_BYTES + 8 + 4 + 4 + 8 + 2 + 2;
/** Smallest and largest metadata record: a name of 1 byte and no type; longest name and type. */
export const MIN_METADATA_BYTES = METADATA_FIXED_BYTES + 1;
export const MAX_METADATA_BYTES = METADATA_FIXED_BYTES + MAX_NAME_BYTES + MAX_TYPE_BYTES;

export interface ShareChunkBounds {
  min: number;
  max: number;
}

/** Plaintext bytes in data chunk `index` (1..count) of a file of `size` bytes cut in `chunkSize` chunks. */
export function dataChunkBytes(size: number, chunkSize: number, index: number): number {
  const count = chunkCountFor(size, chunkSize);
  if (!Number.isInteger(index) || index < 1 || index > count) throw new RangeError(`"index" expected integer 1..${count}, got ${index}`);
  return index < count ? chunkSize : size - (count - 1) * chunkSize;
}

/**
 * Allowed stored length of share chunk `index` (0..count): exact for data chunks; for the metadata
 * chunk the range its record can span (the name and type the browser writes are not the coordinator's
 * to check byte for byte).
 */
export function shareChunkBounds(size: number, chunkSize: number, index: number): ShareChunkBounds {
  const overhead = HEADER_BYTES + TAG_BYTES;
  if (index === 0) return { min: overhead + MIN_METADATA_BYTES, max: overhead + MAX_METADATA_BYTES };
  const exact = overhead + dataChunkBytes(size, chunkSize, index);
  return { min: exact, max: exact };
}

/** Largest share chunk of the file (any index): the per-chunk byte bound of its put tokens. */
export function maxShareChunkLength(size: number, chunkSize: number): number {
  const largestData = Math.min(size, chunkSize);
  return HEADER_BYTES + TAG_BYTES + Math.max(MAX_METADATA_BYTES, largestData);
}

/** Compact files: the version-2 metadata record adds its mode byte, k and the k data points. */
function compactMetadataExtra(k: number): number {
  return 1 + 1 + k;
}

/**
 * Allowed stored length of share chunk `index` (0..count) of a compact file with threshold k: exact for
 * data chunks (every relay's fragment has the same length), the name/type range for chunk 0.
 */
export function compactShareChunkBounds(size: number, chunkSize: number, index: number, k: number): ShareChunkBounds {
  if (!Number.isInteger(k) || k < 2 || k > 255) throw new RangeError(`"k" expected integer 2..255, got ${k}`);
  if (index === 0) {
    const overhead = HEADER_BYTES + TAG_BYTES + compactMetadataExtra(k);
    return { min: overhead + MIN_METADATA_BYTES, max: overhead + MAX_METADATA_BYTES };
  }
  const exact = HEADER_BYTES + fragmentLength(dataChunkBytes(size, chunkSize, index) + GCM_TAG_BYTES, k);
  return { min: exact, max: exact };
}

/** Largest share chunk of a compact file (any index): the per-chunk byte bound of its put tokens. */
export function maxCompactShareChunkLength(size: number, chunkSize: number, k: number): number {
  const metadata = compactShareChunkBounds(size, chunkSize, 0, k).max;
  const largestData = Math.min(size, chunkSize);
  return Math.max(metadata, largestData === 0 ? 0 : HEADER_BYTES + fragmentLength(largestData + GCM_TAG_BYTES, k));
}

/** How a file's data chunks are stored (docs/compact-mode.md): every chunk Shamir-split, or AES-256-GCM + Reed-Solomon. */
export type FileMode = 'shamir' | 'compact';
export const FILE_MODES: readonly FileMode[] = ['shamir', 'compact'];

/** The allowed stored length of share chunk `index` of a file in `mode` (the coordinator's commit check). */
export function shareChunkBoundsFor(mode: FileMode, size: number, chunkSize: number, index: number, k: number): ShareChunkBounds {
  return mode === 'compact' ? compactShareChunkBounds(size, chunkSize, index, k) : shareChunkBounds(size, chunkSize, index);
}

/** The largest share chunk of a file in `mode`: the per-chunk byte bound of its put tokens. */
export function maxShareChunkLengthFor(mode: FileMode, size: number, chunkSize: number, k: number): number {
  return mode === 'compact' ? maxCompactShareChunkLength(size, chunkSize, k) : maxShareChunkLength(size, chunkSize);
}

/** Bytes one relay stores for data chunk of `dataLength` plaintext bytes (header included), in `mode`. */
export function dataShareChunkLength(mode: FileMode, dataLength: number, k: number): number {
  return mode === 'compact' ? HEADER_BYTES + fragmentLength(dataLength + GCM_TAG_BYTES, k) : HEADER_BYTES + TAG_BYTES + dataLength;
}
