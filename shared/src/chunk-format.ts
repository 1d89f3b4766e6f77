/**
 * The share-chunk format: what a relay stores for one chunk of one file. See docs/format.md.
 *
 *   offset size  field
 *   0      4     magic "KOFN"
 *   4      1     format version (1)
 *   5      1     flags: bit 0 FINAL (last chunk of the file), bit 1 METADATA (the file's metadata record)
 *   6      1     x: this share's evaluation point, 1..255
 *   7      1     k: threshold, 2..255
 *   8      16    file id (random)
 *   24     4     chunk index, big-endian (0 = metadata record, 1.. = data)
 *   28     4     epoch, big-endian (bumped by proactive renewal)
 *   32     4     body length, big-endian
 *   36     4     reserved, zero
 *   40     ...   body: share x of the chunk's record (record = data || 16-byte tag)
 */
import { KofnError } from './errors.js';

export const HEADER_BYTES = 40;
export const FORMAT_VERSION = 1;
export const FILE_ID_BYTES = 16;
export const FLAG_FINAL = 1;
export const FLAG_METADATA = 2;
const KNOWN_FLAGS = FLAG_FINAL | FLAG_METADATA;
const MAGIC = [0x4b, 0x4f, 0x46, 0x4e]; // "KOFN"

export interface ShareHeader {
  flags: number;
  x: number;
  k: number;
  fileId: Uint8Array;
  index: number;
  epoch: number;
  bodyLength: number;
}

export function writeHeader(out: Uint8Array, h: ShareHeader): void {
  const dv = new DataView(out.buffer, out.byteOffset, HEADER_BYTES);
  out.set(MAGIC, 0);
  out[4] = FORMAT_VERSION;
  out[5] = h.flags;
  out[6] = h.x;
  out[7] = h.k;
  out.set(h.fileId, 8);
  dv.setUint32(24, h.index);
  dv.setUint32(28, h.epoch);
  dv.setUint32(32, h.bodyLength);
  dv.setUint32(36, 0);
}

function bad(message: string): KofnError {
  return new KofnError('BAD_SHARE_FORMAT', message);
}

/**
 * Parses and checks the 40-byte header at the start of `chunk` without looking at the body: what a relay
 * can check while a body is still arriving. `parseHeader` adds the body length check.
 */
export function parseHeaderPrefix(chunk: Uint8Array): ShareHeader {
  if (chunk.length < HEADER_BYTES) throw bad('Share chunk shorter than its header.');
  for (let i = 0; i < 4; i++) if (chunk[i] !== MAGIC[i]) throw bad('Not a kofn share chunk (bad magic).');
  if (chunk[4] !== FORMAT_VERSION) throw bad(`Unsupported share format version ${chunk[4]}.`);
  const dv = new DataView(chunk.buffer, chunk.byteOffset, HEADER_BYTES);
  const flags = chunk[5]!;
  const x = chunk[6]!;
  const k = chunk[7]!;
  if ((flags & ~KNOWN_FLAGS) !== 0) throw bad('Unknown flags in share header.');
  if (x === 0) throw new KofnError('INVALID_X', 'Share with x = 0 rejected.');
  if (k < 2) throw bad('Share header has a threshold below 2.');
  if (dv.getUint32(36) !== 0) throw bad('Reserved header bytes are not zero.');
  const index = dv.getUint32(24);
  if (((flags & FLAG_METADATA) !== 0) !== (index === 0)) throw bad('Metadata flag and chunk index disagree.');
  return { flags, x, k, fileId: chunk.subarray(8, 24), index, epoch: dv.getUint32(28), bodyLength: dv.getUint32(32) };
}

/** Parses and checks a stored share chunk's header; the body must be exactly as long as declared. */
export function parseHeader(chunk: Uint8Array): ShareHeader {
  const h = parseHeaderPrefix(chunk);
  if (h.bodyLength !== chunk.length - HEADER_BYTES) throw bad('Share chunk length does not match its header.');
  return h;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
