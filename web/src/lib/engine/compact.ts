/**
 * Compact mode in the browser engine (issue #23, lever 2; shared/docs/compact-mode.md): the per-file mode
 * dispatch that protect.ts, retrieve.ts and share.worker.ts call, kept here so those files carry only small
 * hooks. A compact file's data chunks are AES-256-GCM sealed and Reed-Solomon coded into n fragments, any
 * k of which rebuild them (shared/src/compact.ts); only chunk 0 (the metadata record with the file key) is
 * Shamir-split. Retrieval needs no option: ShareDecoder learns the mode from the authenticated record.
 *
 * Nonce rule (compact-mode.md, "Nonces"): a chunk index must never be encrypted twice under one key with
 * different plaintext. A resumed upload re-encrypts chunks past the last acknowledged one with the stored
 * key; it reads them from the same File, which browsers snapshot (a File whose bytes changed since it was
 * picked fails to read with NotReadableError), so the bytes are the same. An upload that starts over on
 * other relays (a relay replaced) draws a fresh key (`freshKeyOnRestart`), so nothing relies on that there.
 */
import { CompactEncoder, ShareEncoder, compactShareChunkBounds, dataShareChunkLength, shareChunkBounds, type EncoderOptions, type FileMode, type MetadataRecord } from '@kofn/shared';

export type { FileMode };

/** What a share worker encodes with: the two encoders have the same shape. */
export type FileEncoder = Pick<ShareEncoder, 'xs' | 'encodeData' | 'wipe'> & { encodeMetadata(meta: MetadataRecord): Promise<Array<Uint8Array<ArrayBuffer>>> };

/** The encoder of a file in `mode`; `key` is the file's 32 random bytes (MAC key in Shamir mode, AES-256 key in compact mode). */
export async function createFileEncoder(mode: FileMode | undefined, opts: EncoderOptions, key: Uint8Array<ArrayBuffer>): Promise<FileEncoder> {
  return mode === 'compact' ? CompactEncoder.create(opts, key) : ShareEncoder.create(opts, key);
}

/** Bytes of the share chunk of a data chunk of `dataLength` bytes on one relay (header included). */
export function dataShareLength(mode: FileMode | undefined, dataLength: number, k: number): number {
  return dataShareChunkLength(mode ?? 'shamir', dataLength, k);
}

/**
 * Largest share chunk 0 can be in either mode: the metadata record with the longest name and type, plus
 * for a compact file its mode byte, k and k data points (k <= 255). Chunk 0 is read bounded by it (issue
 * #13 item 4), before the reader knows the mode.
 */
export const MAX_METADATA_SHARE_BYTES = Math.max(shareChunkBounds(0, 1, 0).max, compactShareChunkBounds(0, 1, 0, 255).max);

/** The mode an authenticated metadata record says (compact records carry the code's data points). */
export function modeOfRecord(meta: { compact?: unknown }): FileMode {
  return meta.compact === undefined ? 'shamir' : 'compact';
}

/**
 * Whether an upload that starts over from chunk 0 (a relay was replaced: protect.ts replaceRelay) must draw
 * a new file key. Compact mode: yes, so no chunk index is ever encrypted twice under one key whatever the
 * file's bytes are by then. Shamir mode keeps its MAC key (each split is fresh randomness anyway).
 */
export function freshKeyOnRestart(mode: FileMode | undefined): boolean {
  return mode === 'compact';
}

/** The storage mode as the file list and details show it. */
export function modeLabel(mode: FileMode | undefined): string {
  return mode === 'compact' ? 'Compact' : 'Shamir';
}

/** The plain warning shown where compact mode is chosen (issue #23; compact-mode.md, "Security statement"). */
export const COMPACT_WARNING = 'Compact: about 3x less storage and traffic; secrecy relies on AES-256';
