/**
 * The file's metadata record, split like data and stored as chunk 0 on every relay, so that any k relays'
 * disks alone rebuild every file (name, size, type, chunking, and the MAC key).
 *
 *   version u8 (1) | MAC key (32) | size u64 BE | chunk size u32 BE | chunk count u32 BE |
 *   created (ms since epoch) u64 BE | name length u16 BE | name (UTF-8) | type length u16 BE | type (UTF-8)
 *
 * A compact file (docs/compact-mode.md) has record version 2, which adds the mode and the Reed-Solomon
 * code's data points after the version-1 fields; its 32-byte key is the file key (GMAC of this record and
 * AES-256-GCM of every data chunk):
 *
 *   version u8 (2) | mode u8 (1 = compact) | file key (32) | size | chunk size | chunk count | created |
 *   name length | name | type length | type | data point count u8 (= k) | data points (k bytes, distinct, 1..255)
 */
import { KofnError } from './errors.js';
import { MAC_KEY_BYTES } from './mac.js';

export const METADATA_VERSION = 1;
/** Record version of compact files. */
export const METADATA_VERSION_COMPACT = 2;
const MODE_COMPACT = 1;
export const MAX_NAME_BYTES = 1024;
export const MAX_TYPE_BYTES = 255;
/** Largest chunk the format allows; records must fit one relay object comfortably. */
export const MAX_CHUNK_SIZE = 64 * 1024 * 1024;

export interface FileMetadata {
  name: string;
  size: number;
  type: string;
  chunkSize: number;
  createdAt: number;
}

export interface MetadataRecord extends FileMetadata {
  chunkCount: number;
  /** Shamir files: the GMAC key. Compact files: the file key, for GMAC of chunk 0 and AES-256-GCM of data. */
  macKey: Uint8Array<ArrayBuffer>;
  /**
   * Present for compact files only: the x-coordinates at which the Reed-Solomon code's polynomial takes
   * the k ciphertext pieces of each chunk (the first k relays' x, so their fragments are the pieces).
   */
  compact?: { dataXs: readonly number[] };
}

export function chunkCountFor(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

function bad(message: string): KofnError {
  return new KofnError('BAD_SHARE_FORMAT', message);
}

export function checkFileMetadata(m: FileMetadata): void {
  if (!Number.isSafeInteger(m.size) || m.size < 0) throw new KofnError('INVALID_ARGUMENT', '"size" expected a non-negative integer');
  if (!Number.isInteger(m.chunkSize) || m.chunkSize < 1 || m.chunkSize > MAX_CHUNK_SIZE) {
    throw new KofnError('INVALID_ARGUMENT', `"chunkSize" expected integer 1..${MAX_CHUNK_SIZE}`);
  }
  if (chunkCountFor(m.size, m.chunkSize) > 0xfffffffe) throw new KofnError('INVALID_ARGUMENT', 'File has too many chunks.');
  if (new TextEncoder().encode(m.name).length > MAX_NAME_BYTES) throw new KofnError('INVALID_ARGUMENT', '"name" is longer than 1024 bytes');
  if (new TextEncoder().encode(m.type).length > MAX_TYPE_BYTES) throw new KofnError('INVALID_ARGUMENT', '"type" is longer than 255 bytes');
  if (!Number.isSafeInteger(m.createdAt) || m.createdAt < 0) throw new KofnError('INVALID_ARGUMENT', '"createdAt" expected milliseconds since 1970');
}

export function encodeMetadata(m: MetadataRecord): Uint8Array<ArrayBuffer> {
  const name = new TextEncoder().encode(m.name);
  const type = new TextEncoder().encode(m.type);
  const dataXs = m.compact?.dataXs;
  const extra = dataXs ? 1 + 1 + dataXs.length : 0;
  const out = new Uint8Array(1 + MAC_KEY_BYTES + 8 + 4 + 4 + 8 + 2 + name.length + 2 + type.length + extra);
  const dv = new DataView(out.buffer);
  let o = 0;
  out[o++] = dataXs ? METADATA_VERSION_COMPACT : METADATA_VERSION;
  if (dataXs) out[o++] = MODE_COMPACT;
  out.set(m.macKey, o);
  o += MAC_KEY_BYTES;
  dv.setBigUint64(o, BigInt(m.size));
  o += 8;
  dv.setUint32(o, m.chunkSize);
  o += 4;
  dv.setUint32(o, m.chunkCount);
  o += 4;
  dv.setBigUint64(o, BigInt(m.createdAt));
  o += 8;
  dv.setUint16(o, name.length);
  o += 2;
  out.set(name, o);
  o += name.length;
  dv.setUint16(o, type.length);
  o += 2;
  out.set(type, o);
  o += type.length;
  if (dataXs) {
    out[o++] = dataXs.length;
    out.set(dataXs, o);
  }
  return out;
}

export interface DecodeMetadataOptions {
  /**
   * Offline recovery keeps an authenticated file whose name or type is not valid UTF-8 (a buggy or old
   * writer): the text is decoded with U+FFFD replacements and `textRepaired` is set, so the caller saves
   * the data under a safe name instead of dropping it. Everywhere else invalid text is a format error.
   */
  lenientText?: boolean;
}

export function decodeMetadata(bytes: Uint8Array, opts: DecodeMetadataOptions = {}): MetadataRecord & { textRepaired?: true } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (o: number, n: number): void => {
    if (o + n > bytes.length) throw bad('Metadata record is truncated.');
  };
  let o = 0;
  need(o, 1 + MAC_KEY_BYTES + 26);
  const version = bytes[o++];
  if (version !== METADATA_VERSION && version !== METADATA_VERSION_COMPACT) throw bad('Unsupported metadata version.');
  if (version === METADATA_VERSION_COMPACT) {
    need(o, 1 + MAC_KEY_BYTES + 26);
    if (bytes[o++] !== MODE_COMPACT) throw bad('Unknown mode in metadata record.');
  }
  const macKey = bytes.slice(o, o + MAC_KEY_BYTES);
  o += MAC_KEY_BYTES;
  const size = dv.getBigUint64(o);
  o += 8;
  const chunkSize = dv.getUint32(o);
  o += 4;
  const chunkCount = dv.getUint32(o);
  o += 4;
  const createdAt = dv.getBigUint64(o);
  o += 8;
  const nameLen = dv.getUint16(o);
  o += 2;
  need(o, nameLen + 2);
  const strict = new TextDecoder('utf-8', { fatal: true });
  // `as boolean`: the decoding callback sets it, which TypeScript's narrowing does not see.
  let repaired = false as boolean;
  const text = (b: Uint8Array): string => {
    try {
      return strict.decode(b);
    } catch {
      if (!opts.lenientText) throw bad('Metadata text is not UTF-8.');
      repaired = true;
      return new TextDecoder('utf-8').decode(b);
    }
  };
  const name = text(bytes.subarray(o, o + nameLen));
  o += nameLen;
  const typeLen = dv.getUint16(o);
  o += 2;
  need(o, typeLen);
  const type = text(bytes.subarray(o, o + typeLen));
  o += typeLen;
  let dataXs: number[] | undefined;
  if (version === METADATA_VERSION_COMPACT) {
    need(o, 1);
    const k = bytes[o++]!;
    need(o, k);
    dataXs = [...bytes.subarray(o, o + k)];
    o += k;
    // k >= 2 as everywhere; distinct non-zero points, else the code is not invertible.
    if (k < 2 || dataXs.includes(0) || new Set(dataXs).size !== k) throw bad('Metadata has invalid data points.');
  }
  if (o !== bytes.length) throw bad('Metadata record has trailing bytes.');
  if (size > BigInt(Number.MAX_SAFE_INTEGER) || createdAt > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('Metadata value out of range.');
  const m: MetadataRecord = { name, type, size: Number(size), chunkSize, chunkCount, createdAt: Number(createdAt), macKey, ...(dataXs ? { compact: { dataXs } } : {}) };
  if (chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE || chunkCount !== chunkCountFor(m.size, chunkSize)) throw bad('Metadata chunking is inconsistent.');
  return repaired ? { ...m, textRepaired: true } : m;
}
