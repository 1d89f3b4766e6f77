/**
 * A reference writer of the share format written only from shared/docs/format.md, sharing no code with
 * src/ (GF(2^8) from reference.ts, GMAC from node:crypto's AES-256-GCM, every integer big-endian), used
 * to make and check test/vectors/format.json.
 */
import { createCipheriv } from 'node:crypto';
import { evalRef, splitRef, unhex } from './reference.js';

export interface FileSpec {
  fileId: Uint8Array;
  macKey: Uint8Array;
  k: number;
  xs: number[];
  epoch: number;
  name: string;
  type: string;
  createdAt: number;
  chunkSize: number;
  data: Uint8Array;
}

/** A vector case as the vector files write it (hex strings), in the shape the writers take. */
export interface HexCase {
  fileId: string;
  k: number;
  xs: number[];
  epoch: number;
  file: { name: string; type: string; createdAt: number; chunkSize: number; data: string };
}

/** The FileSpec of a hex case, under the key (hex) that authenticates it. */
export function fileSpecOf(c: HexCase, keyHex: string): FileSpec {
  const { name, type, createdAt, chunkSize, data } = c.file;
  return { fileId: unhex(c.fileId), macKey: unhex(keyHex), k: c.k, xs: c.xs, epoch: c.epoch, name, type, createdAt, chunkSize, data: unhex(data) };
}

const u16 = (n: number) => Buffer.from([n >>> 8, n & 0xff]);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};

export function metadataRecord(f: FileSpec): Uint8Array {
  const name = Buffer.from(f.name, 'utf8');
  const type = Buffer.from(f.type, 'utf8');
  const count = Math.ceil(f.data.length / f.chunkSize);
  return Buffer.concat([Buffer.from([1]), f.macKey, u64(f.data.length), u32(f.chunkSize), u32(count), u64(f.createdAt), u16(name.length), name, u16(type.length), type]);
}

/** GMAC: AES-256-GCM, IV = index u32 | flags | 0^7, no plaintext, AAD = "KOFN-MAC" | id | index | flags | 0^3 | data. */
export function gmac(key: Uint8Array, fileId: Uint8Array, index: number, flags: number, data: Uint8Array): Uint8Array {
  const iv = Buffer.concat([u32(index), Buffer.from([flags]), Buffer.alloc(7)]);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.concat([Buffer.from('KOFN-MAC', 'ascii'), fileId, u32(index), Buffer.from([flags, 0, 0, 0]), data]));
  c.final();
  return c.getAuthTag();
}

export function header(flags: number, x: number, k: number, fileId: Uint8Array, index: number, epoch: number, bodyLength: number): Uint8Array {
  return Buffer.concat([Buffer.from('KOFN', 'ascii'), Buffer.from([1, flags, x, k]), fileId, u32(index), u32(epoch), u32(bodyLength), Buffer.alloc(4)]);
}

/** Every chunk of the file: records (data || tag) split in order, each chunk's k-1 coefficient draws after the previous chunk's. */
export function shareChunks(f: FileSpec, draw: (len: number) => Uint8Array): { tags: Uint8Array[]; chunks: Uint8Array[][] } {
  const count = Math.ceil(f.data.length / f.chunkSize);
  const plain = [metadataRecord(f), ...Array.from({ length: count }, (_, i) => f.data.subarray(i * f.chunkSize, (i + 1) * f.chunkSize))];
  const tags: Uint8Array[] = [];
  const chunks = plain.map((data, index) => {
    const flags = (index === 0 ? 2 : 0) | (index === count ? 1 : 0);
    const tag = gmac(f.macKey, f.fileId, index, flags, data);
    tags.push(tag);
    const record = Buffer.concat([data, tag]);
    return splitRef(record, f.k, f.xs, draw).map((body, j) => Buffer.concat([header(flags, f.xs[j]!, f.k, f.fileId, index, f.epoch, record.length), body]));
  });
  return { tags, chunks };
}

// ---- compact mode (docs/compact-mode.md), written from the document alone ----

/** Metadata record version 2: version 2 | mode 1 | file key | the version-1 fields | k | data points (the first k xs). */
export function compactMetadataRecord(f: FileSpec): Uint8Array {
  const v1 = metadataRecord(f);
  return Buffer.concat([Buffer.from([2, 1]), v1.subarray(1), Buffer.from([f.k, ...f.xs.slice(0, f.k)])]);
}

/** Header version 2: as version 1, with bytes 36..39 = mode 1 | pad | 0 | 0. */
export function compactHeader(flags: number, x: number, k: number, fileId: Uint8Array, index: number, epoch: number, bodyLength: number, pad: number): Uint8Array {
  const h = Buffer.from(header(flags, x, k, fileId, index, epoch, bodyLength));
  h[4] = 2;
  h[36] = 1;
  h[37] = pad;
  return h;
}

/** AES-256-GCM, IV = index u32 | flags | 0^7, AAD = "KOFN-ENC" | id | index u32 | flags | 0^3: ciphertext || tag. */
export function encryptRef(key: Uint8Array, fileId: Uint8Array, index: number, flags: number, data: Uint8Array): Uint8Array {
  const iv = Buffer.concat([u32(index), Buffer.from([flags]), Buffer.alloc(7)]);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.concat([Buffer.from('KOFN-ENC', 'ascii'), fileId, u32(index), Buffer.from([flags, 0, 0, 0])]));
  const body = Buffer.concat([c.update(data), c.final()]);
  return Buffer.concat([body, c.getAuthTag()]);
}

/**
 * The n fragments of a sealed chunk: cut into k pieces of m = ceil(len / k) bytes (the last zero-padded),
 * piece i is the value at xs[i] (i < k); fragment j is the polynomial's value at xs[j], byte by byte.
 */
export function fragmentsRef(sealed: Uint8Array, k: number, xs: readonly number[]): { pad: number; fragments: Uint8Array[] } {
  const m = Math.ceil(sealed.length / k);
  const padded = Buffer.concat([sealed, Buffer.alloc(k * m - sealed.length)]);
  const pieces = Array.from({ length: k }, (_, i) => padded.subarray(i * m, (i + 1) * m));
  const dataXs = xs.slice(0, k);
  const fragments = xs.map((x) => {
    const out = new Uint8Array(m);
    for (let p = 0; p < m; p++) {
      out[p] = evalRef(
        dataXs,
        pieces.map((piece) => piece[p]!),
        x
      );
    }
    return out;
  });
  return { pad: k * m - sealed.length, fragments };
}

/** Every chunk of a compact file: chunk 0 Shamir-split as in version 1 (GMAC, same randomness layout), then fragments. */
export function compactShareChunks(f: FileSpec, draw: (len: number) => Uint8Array): { tag: Uint8Array; sealed: Uint8Array[]; chunks: Uint8Array[][] } {
  const count = Math.ceil(f.data.length / f.chunkSize);
  const record = compactMetadataRecord(f);
  const flags0 = 2 | (count === 0 ? 1 : 0);
  const tag = gmac(f.macKey, f.fileId, 0, flags0, record);
  const body = Buffer.concat([record, tag]);
  const chunks = [splitRef(body, f.k, f.xs, draw).map((y, j) => Buffer.concat([compactHeader(flags0, f.xs[j]!, f.k, f.fileId, 0, f.epoch, body.length, 0), y]))];
  const sealed: Uint8Array[] = [];
  for (let i = 1; i <= count; i++) {
    const flags = i === count ? 1 : 0;
    const s = encryptRef(f.macKey, f.fileId, i, flags, f.data.subarray((i - 1) * f.chunkSize, i * f.chunkSize));
    sealed.push(s);
    const { pad, fragments } = fragmentsRef(s, f.k, f.xs);
    chunks.push(fragments.map((y, j) => Buffer.concat([compactHeader(flags, f.xs[j]!, f.k, f.fileId, i, f.epoch, y.length, pad), y])));
  }
  return { tag, sealed, chunks };
}

/** A tree file (docs/multilevel.md): K over groups, each group (k_g, its relays' x's). */
export interface TreeSpec extends Omit<FileSpec, 'k' | 'xs'> {
  K: number;
  groups: Array<{ x: number; k: number; xs: number[] }>;
}

/** Version 3 header: version byte 3, relay x and k_g at 6..7, group x and K at 36..37, bytes 38..39 zero. */
export function treeHeader(flags: number, x: number, k: number, fileId: Uint8Array, index: number, epoch: number, bodyLength: number, groupX: number, K: number): Uint8Array {
  return Buffer.concat([Buffer.from('KOFN', 'ascii'), Buffer.from([3, flags, x, k]), fileId, u32(index), u32(epoch), u32(bodyLength), Buffer.from([groupX, K, 0, 0])]);
}

/**
 * Every chunk of a tree file, written from docs/multilevel.md: the record (data || tag, as in version 1)
 * split (K, G) at the group x's, then each group's share split (k_g, n_g) at its relays' x's; draws in
 * that order (top split, then groups in order). chunks[index] lists share chunks group by group.
 */
export function treeShareChunks(f: TreeSpec, draw: (len: number) => Uint8Array): { tags: Uint8Array[]; chunks: Uint8Array[][] } {
  const count = Math.ceil(f.data.length / f.chunkSize);
  const plain = [metadataRecord({ ...f, k: f.K, xs: [] }), ...Array.from({ length: count }, (_, i) => f.data.subarray(i * f.chunkSize, (i + 1) * f.chunkSize))];
  const tags: Uint8Array[] = [];
  const chunks = plain.map((data, index) => {
    const flags = (index === 0 ? 2 : 0) | (index === count ? 1 : 0);
    const tag = gmac(f.macKey, f.fileId, index, flags, data);
    tags.push(tag);
    const record = Buffer.concat([data, tag]);
    const groupShares = splitRef(
      record,
      f.K,
      f.groups.map((g) => g.x),
      draw
    );
    return f.groups.flatMap((g, gi) =>
      splitRef(groupShares[gi]!, g.k, g.xs, draw).map((body, j) => Buffer.concat([treeHeader(flags, g.xs[j]!, g.k, f.fileId, index, f.epoch, record.length, g.x, f.K), body]))
    );
  });
  return { tags, chunks };
}
