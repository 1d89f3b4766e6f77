/**
 * A reference writer of the share format written only from shared/docs/format.md, sharing no code with
 * src/ (GF(2^8) from reference.ts, GMAC from node:crypto's AES-256-GCM, every integer big-endian), used
 * to make and check test/vectors/format.json.
 */
import { createCipheriv } from 'node:crypto';
import { splitRef } from './reference.js';

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
