/**
 * The share-chunk format: what a relay stores for one chunk of one file. See docs/format.md.
 *
 *   offset size  field
 *   0      4     magic "KOFN"
 *   4      1     format version: 1 (Shamir file) or 2 (compact file, docs/compact-mode.md)
 *   5      1     flags: bit 0 FINAL (last chunk of the file), bit 1 METADATA (the file's metadata record)
 *   6      1     x: this share's evaluation point, 1..255
 *   7      1     k: threshold, 2..255
 *   8      16    file id (random)
 *   24     4     chunk index, big-endian (0 = metadata record, 1.. = data)
 *   28     4     epoch, big-endian (bumped by proactive renewal)
 *   32     4     body length, big-endian
 *   36     4     version 1: reserved, zero
 *                 version 2: mode (u8, 1 = compact) | pad (u8) | reserved u16, zero
 *                 version 3 (tree file, docs/multilevel.md): group x (u8) | K (u8) | reserved u16, zero;
 *                 then x and k above are the relay's x and k_g within the group
 *   40     ...   body: share x of the chunk's record (record = data || 16-byte tag); in a compact file's
 *                 data chunks, the Reed-Solomon fragment at x of the chunk's AES-256-GCM ciphertext
 *
 * Shamir files are still written as version 1, byte for byte as before, so relays, renewal, repair and
 * every earlier reader keep working on them; only compact files need the mode byte.
 */
import { KofnError } from './errors.js';

export const HEADER_BYTES = 40;
/** The header version of Shamir share chunks (unchanged since the first release). */
export const FORMAT_VERSION = 1;
/** The header version of compact files' share chunks: carries the mode and the fragment padding. */
export const FORMAT_VERSION_COMPACT = 2;
/** The header version of tree files' share chunks (multi-level sharing, docs/multilevel.md). */
export const FORMAT_VERSION_TREE = 3;
/** Modes (header byte 36 in version 2): how a file's data chunks are stored. */
export const MODE_SHAMIR = 0;
export const MODE_COMPACT = 1;
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
  /**
   * MODE_SHAMIR (absent: the same) or MODE_COMPACT. Shamir headers are version 1; compact ones version 2.
   * Optional so that code building Shamir headers needs no change.
   */
  mode?: number;
  /**
   * Compact data chunks: zero bytes appended to the ciphertext so that it splits into k equal pieces
   * (0..k-1). Always 0 elsewhere.
   */
  pad?: number;
  /**
   * Tree files (version 3, docs/multilevel.md): `group.x` is the relay's group's x at the top level and
   * `group.k` the top threshold K; `x` and `k` are then the relay's x and k_g within its group.
   */
  group?: { x: number; k: number };
}

export function writeHeader(out: Uint8Array, h: ShareHeader): void {
  const dv = new DataView(out.buffer, out.byteOffset, HEADER_BYTES);
  const compact = (h.mode ?? MODE_SHAMIR) === MODE_COMPACT;
  out.set(MAGIC, 0);
  out[4] = compact ? FORMAT_VERSION_COMPACT : FORMAT_VERSION;
  out[5] = h.flags;
  out[6] = h.x;
  out[7] = h.k;
  out.set(h.fileId, 8);
  dv.setUint32(24, h.index);
  dv.setUint32(28, h.epoch);
  dv.setUint32(32, h.bodyLength);
  dv.setUint32(36, 0);
  if (compact) {
    out[36] = MODE_COMPACT;
    out[37] = h.pad ?? 0;
  }
  // ---- multi-level hook (issue #21): a tree share is version 3 and carries its group's point ----
  if (h.group) {
    if (compact) throw new KofnError('INVALID_ARGUMENT', 'A tree share is a Shamir share (no compact mode).');
    out[4] = FORMAT_VERSION_TREE;
    out[36] = h.group.x;
    out[37] = h.group.k;
  }
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
  const version = chunk[4];
  if (version !== FORMAT_VERSION && version !== FORMAT_VERSION_COMPACT && version !== FORMAT_VERSION_TREE) throw bad(`Unsupported share format version ${version}.`);
  const dv = new DataView(chunk.buffer, chunk.byteOffset, HEADER_BYTES);
  const flags = chunk[5]!;
  const x = chunk[6]!;
  const k = chunk[7]!;
  if ((flags & ~KNOWN_FLAGS) !== 0) throw bad('Unknown flags in share header.');
  if (x === 0) throw new KofnError('INVALID_X', 'Share with x = 0 rejected.');
  if (k < 2) throw bad('Share header has a threshold below 2.');
  let mode = MODE_SHAMIR;
  let pad = 0;
  let group: { x: number; k: number } | undefined;
  if (version === FORMAT_VERSION_TREE) {
    // ---- multi-level hook (issue #21, docs/multilevel.md): group x and K; Shamir records only ----
    group = { x: chunk[36]!, k: chunk[37]! };
    if (group.x === 0) throw new KofnError('INVALID_X', 'Share with group x = 0 rejected.');
    if (group.k < 2) throw bad('Share header has a top threshold below 2.');
    if (dv.getUint16(38) !== 0) throw bad('Reserved header bytes are not zero.');
  } else if (version === FORMAT_VERSION) {
    if (dv.getUint32(36) !== 0) throw bad('Reserved header bytes are not zero.');
  } else {
    // Version 2 exists only for compact files: a Shamir share is always written as version 1, so one
    // header has one spelling and a changed version byte is never silently accepted.
    mode = chunk[36]!;
    pad = chunk[37]!;
    if (mode !== MODE_COMPACT) throw bad(`Unknown mode ${mode} in a version 2 share header.`);
    if (dv.getUint16(38) !== 0) throw bad('Reserved header bytes are not zero.');
    if (pad >= k) throw bad('Fragment padding must be below the threshold.');
  }
  const index = dv.getUint32(24);
  if (((flags & FLAG_METADATA) !== 0) !== (index === 0)) throw bad('Metadata flag and chunk index disagree.');
  if ((flags & FLAG_METADATA) !== 0 && pad !== 0) throw bad('A metadata chunk has no fragment padding.');
  const h: ShareHeader = { flags, x, k, fileId: chunk.subarray(8, 24), index, epoch: dv.getUint32(28), bodyLength: dv.getUint32(32) };
  // Version 1 headers parse to the same object as before the compact mode existed.
  if (group) return { ...h, group };
  return version === FORMAT_VERSION ? h : { ...h, mode, pad };
}

/** Parses and checks a stored share chunk's header; the body must be exactly as long as declared. */
export function parseHeader(chunk: Uint8Array): ShareHeader {
  const h = parseHeaderPrefix(chunk);
  if (h.bodyLength !== chunk.length - HEADER_BYTES) throw bad('Share chunk length does not match its header.');
  return h;
}

// Header field offsets (the table above). Code outside this module rewrites headers only through the
// functions below, so the layout is written down once.
const AT_VERSION = 4;
const AT_FILE_ID = 8;
const AT_EPOCH = 28;
const AT_EXTRA = 36;

/**
 * A tree share chunk's header (version 3) made into a flat one (version 1) in place, for a remote group
 * (issue #21, federation; docs/multilevel.md "Groups on other deployments"): the other deployment stores
 * the group's sub-shares as an ordinary file of its own, so the header carries that file's id and epoch and
 * the reserved bytes return to zero. The body is never touched.
 */
export function treeHeaderToFlat(chunk: Uint8Array, flat: { fileId: Uint8Array; epoch: number }): void {
  if (chunk.length < HEADER_BYTES || chunk[AT_VERSION] !== FORMAT_VERSION_TREE) throw new KofnError('INTERNAL', 'A remote group expected a tree share chunk.');
  chunk[AT_VERSION] = FORMAT_VERSION;
  chunk.set(flat.fileId, AT_FILE_ID);
  new DataView(chunk.buffer, chunk.byteOffset, HEADER_BYTES).setUint32(AT_EPOCH, flat.epoch);
  chunk.fill(0, AT_EXTRA, HEADER_BYTES);
}

/**
 * The inverse of `treeHeaderToFlat`, in place: only a version-1 chunk of exactly the expected flat file and
 * epoch is rewritten (returns true); any other chunk is left as it came (false), so the tree decoder refuses
 * it and names its relay instead of a rewrite making a foreign share look like one of this file's.
 */
export function flatHeaderToTree(chunk: Uint8Array, flat: { fileId: Uint8Array; epoch: number }, tree: { fileId: Uint8Array; epoch: number; groupX: number; groupK: number }): boolean {
  if (chunk.length < HEADER_BYTES || chunk[AT_VERSION] !== FORMAT_VERSION) return false;
  const dv = new DataView(chunk.buffer, chunk.byteOffset, HEADER_BYTES);
  if (!bytesEqual(chunk.subarray(AT_FILE_ID, AT_FILE_ID + FILE_ID_BYTES), flat.fileId) || dv.getUint32(AT_EPOCH) !== flat.epoch || dv.getUint32(AT_EXTRA) !== 0) return false;
  chunk[AT_VERSION] = FORMAT_VERSION_TREE;
  chunk.set(tree.fileId, AT_FILE_ID);
  dv.setUint32(AT_EPOCH, tree.epoch);
  chunk[AT_EXTRA] = tree.groupX;
  chunk[AT_EXTRA + 1] = tree.groupK;
  return true;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
