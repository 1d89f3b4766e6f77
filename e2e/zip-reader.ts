/**
 * A small reader of stored (uncompressed) ZIP files, ZIP64 included, for checking the archives the app
 * builds (issue #18) without a dependency: entries come from the central directory (client-zip writes
 * data descriptors, so local headers carry no sizes), and each entry's CRC-32 is checked.
 * Format: PKWARE APPNOTE.TXT 6.3.x §4.3 (records) and §4.5.3 (ZIP64 extended information).
 */
import { crc32 } from 'node:zlib';

export interface ZipEntry {
  name: string;
  /** A folder entry (name ends with "/"). */
  folder: boolean;
  data: Buffer;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX32 = 0xffffffff;

function expectSig(buf: Buffer, at: number, sig: number, what: string): void {
  if (at < 0 || at + 4 > buf.length || buf.readUInt32LE(at) !== sig) throw new Error(`not a ZIP: no ${what} at ${at}`);
}

const num = (v: bigint) => {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('ZIP value too large');
  return Number(v);
};

export function readZip(buf: Buffer): ZipEntry[] {
  // The end record is at most 22 + 65,535 (comment) bytes from the end.
  let end = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65_535); i--) {
    if (buf.readUInt32LE(i) === EOCD) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error('not a ZIP: no end of central directory');
  let count = buf.readUInt16LE(end + 10);
  let cdOffset = buf.readUInt32LE(end + 16);
  if (count === 0xffff || cdOffset === MAX32) {
    expectSig(buf, end - 20, ZIP64_LOCATOR, 'ZIP64 locator');
    const z = num(buf.readBigUInt64LE(end - 20 + 8));
    expectSig(buf, z, ZIP64_EOCD, 'ZIP64 end record');
    count = num(buf.readBigUInt64LE(z + 32));
    cdOffset = num(buf.readBigUInt64LE(z + 48));
  }
  const entries: ZipEntry[] = [];
  let at = cdOffset;
  for (let n = 0; n < count; n++) {
    expectSig(buf, at, CENTRAL, 'central directory entry');
    const method = buf.readUInt16LE(at + 10);
    const crc = buf.readUInt32LE(at + 16);
    let size = buf.readUInt32LE(at + 24);
    let compressed = buf.readUInt32LE(at + 20);
    const nameLen = buf.readUInt16LE(at + 28);
    const extraLen = buf.readUInt16LE(at + 30);
    const commentLen = buf.readUInt16LE(at + 32);
    let local = buf.readUInt32LE(at + 42);
    const name = buf.subarray(at + 46, at + 46 + nameLen).toString('utf8');
    // ZIP64 extended information: only the fields whose 32-bit value is 0xffffffff, in this order.
    for (let e = at + 46 + nameLen; e < at + 46 + nameLen + extraLen;) {
      const id = buf.readUInt16LE(e);
      const len = buf.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let f = e + 4;
        if (size === MAX32) {
          size = num(buf.readBigUInt64LE(f));
          f += 8;
        }
        if (compressed === MAX32) {
          compressed = num(buf.readBigUInt64LE(f));
          f += 8;
        }
        if (local === MAX32) local = num(buf.readBigUInt64LE(f));
      }
      e += 4 + len;
    }
    if (method !== 0) throw new Error(`${name}: compression method ${method}, expected stored (0)`);
    if (compressed !== size) throw new Error(`${name}: stored entry with different sizes`);
    expectSig(buf, local, LOCAL, `local header of ${name}`);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const data = buf.subarray(start, start + size);
    if (data.length !== size) throw new Error(`${name}: truncated`);
    if (crc32(data) !== crc) throw new Error(`${name}: CRC-32 mismatch`);
    entries.push({ name, folder: name.endsWith('/'), data });
    at += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}
