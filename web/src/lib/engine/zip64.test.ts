/**
 * ZIP64 past 4 GiB (issue #18): retrieveZip (zip.ts, client-zip) fed more than 4 GiB of generated plaintext,
 * the archive checked as it streams by a reader written from PKWARE's APPNOTE.TXT 6.3.x (§4.3.7 local
 * header, §4.3.9 data descriptor, §4.3.12 central directory, §4.3.14-16 ZIP64 end records, §4.5.3 ZIP64
 * extended information), so nothing is written to disk and nothing of the archive is kept but its central
 * directory. retrieveFile is replaced by a generator of deterministic chunks (the real one needs relays):
 * the zip code under test is the browser's own, from the entry sinks to client-zip's bytes.
 */
import { crc32 } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import type { RetrieveResult, Sink, SinkFor } from './retrieve';

const CHUNK = 1 << 20;
const GiB = 1024 ** 3;
const MAX32 = 0xffffffff;

/** What each generated file is: its name and size. */
const sources = new Map<string, { name: string; size: number }>();
/** The CRC-32 of the bytes each retrieval gave the zip (zlib's, independent of client-zip's), in order. */
const given: number[] = [];

/** 1 MiB of deterministic bytes (xorshift32), stamped per chunk with its index so no two chunks are equal. */
const base = (() => {
  const b = new Uint8Array(CHUNK);
  let x = 0x9e3779b9;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
})();

vi.mock('./retrieve', () => ({
  // As retrieveFile does: open the sink with the file's record, write chunks through one reused buffer
  // (Sink.write's contract: the caller reuses it once the write settles), close it.
  retrieveFile: async (fileId: string, sinkFor: SinkFor, opts: { onProgress?: (done: number, total: number) => void }): Promise<RetrieveResult> => {
    const src = sources.get(fileId)!;
    const sink = await sinkFor({ name: src.name, size: src.size, type: 'application/octet-stream' });
    const buf = new Uint8Array(CHUNK);
    const view = new DataView(buf.buffer);
    let done = 0;
    let crc = 0;
    for (let i = 0; done < src.size; i++) {
      const n = Math.min(CHUNK, src.size - done);
      buf.set(base);
      view.setUint32(0, i, true);
      view.setUint32(4, fileId.length, true);
      crc = crc32(buf.subarray(0, n), crc);
      await sink.write(buf.subarray(0, n));
      done += n;
      opts.onProgress?.(done, src.size);
    }
    given.push(crc);
    await sink.close();
    return { ok: true } as unknown as RetrieveResult;
  }
}));

const { retrieveZip } = await import('./zip');

interface Seen {
  name: string;
  offset: number;
  size: number;
  crc: number;
}

/**
 * A ZIP reader over a stream of stored entries written with data descriptors (client-zip's form). Local
 * headers carry no sizes there, so each entry's length comes from `sizeOf` (the test's own record of what
 * it generated); the data descriptor must then sit exactly at that byte, and the central directory read at
 * the end must agree with every offset, size and CRC-32 the stream showed. Holds at most one chunk, and the
 * central directory.
 */
class StreamingZipCheck implements Sink {
  /** Bytes of the archive so far. */
  pos = 0;
  seen: Seen[] = [];
  /** Bytes waiting for a whole record (a header or descriptor; the tail, once the entries ended). */
  #pending = new Uint8Array(0);
  #state: { s: 'header' } | { s: 'data'; e: Seen; left: number; crc: number } | { s: 'descriptor'; e: Seen; crc: number } | { s: 'tail' } = { s: 'header' };
  #entriesLeft: number;
  closed = false;

  constructor(
    entries: number,
    private sizeOf: (name: string) => number
  ) {
    this.#entriesLeft = entries;
  }

  #take(chunk: Uint8Array, need: number): Uint8Array | undefined {
    // Headers are small: joining them with what came before costs nothing worth avoiding.
    const joined = new Uint8Array(this.#pending.length + chunk.length);
    joined.set(this.#pending);
    joined.set(chunk, this.#pending.length);
    this.#pending = joined;
    if (joined.length < need) return undefined;
    return joined;
  }

  async write(input: Uint8Array): Promise<void> {
    let chunk = input;
    while (chunk.length > 0) {
      const st = this.#state;
      if (st.s === 'tail') {
        this.#take(chunk, Infinity);
        expect(this.#pending.length, 'central directory and end records stay small').toBeLessThan(1 << 20);
        this.pos += chunk.length;
        return;
      }
      if (st.s === 'data') {
        const n = Math.min(st.left, chunk.length);
        st.crc = crc32(chunk.subarray(0, n), st.crc);
        st.left -= n;
        this.pos += n;
        chunk = chunk.subarray(n);
        if (st.left === 0) this.#state = { s: 'descriptor', e: st.e, crc: st.crc };
        continue;
      }
      const before = this.#pending.length;
      if (st.s === 'header') {
        const buf = this.#take(chunk, 30);
        if (!buf) break;
        const dv = new DataView(buf.buffer, buf.byteOffset);
        expect(dv.getUint32(0, true), 'local file header signature').toBe(0x04034b50);
        const nameLen = dv.getUint16(26, true);
        const extraLen = dv.getUint16(28, true);
        if (buf.length < 30 + nameLen + extraLen) break;
        const flags = dv.getUint16(6, true);
        expect(dv.getUint16(8, true), 'stored (method 0)').toBe(0);
        const name = new TextDecoder().decode(buf.subarray(30, 30 + nameLen));
        expect(flags & 0x800, 'names flagged UTF-8').toBe(0x800);
        const used = 30 + nameLen + extraLen - before;
        const e: Seen = { name, offset: this.pos - before, size: 0, crc: 0 };
        this.seen.push(e);
        this.pos += used;
        chunk = chunk.subarray(used);
        this.#pending = new Uint8Array(0);
        if (name.endsWith('/')) {
          // A folder: no data; client-zip writes a descriptor only for files (bit 3 then set).
          if (flags & 0x8) this.#state = { s: 'descriptor', e, crc: 0 };
          else this.#next();
        } else {
          expect(flags & 0x8, 'sizes in a data descriptor (bit 3)').toBe(0x8);
          e.size = this.sizeOf(name);
          this.#state = e.size > 0 ? { s: 'data', e, left: e.size, crc: 0 } : { s: 'descriptor', e, crc: 0 };
        }
        continue;
      }
      // The data descriptor (§4.3.9): signature, CRC-32, then both sizes, 8 bytes each in ZIP64 form.
      const wide = st.e.size >= MAX32;
      const len = 4 + 4 + (wide ? 16 : 8);
      const buf = this.#take(chunk, len);
      if (!buf) break;
      const dv = new DataView(buf.buffer, buf.byteOffset);
      expect(dv.getUint32(0, true), `data descriptor of ${st.e.name}`).toBe(0x08074b50);
      const crc = dv.getUint32(4, true);
      expect(crc, `descriptor CRC-32 of ${st.e.name}`).toBe(st.crc);
      const [csize, usize] = wide ? [Number(dv.getBigUint64(8, true)), Number(dv.getBigUint64(16, true))] : [dv.getUint32(8, true), dv.getUint32(12, true)];
      expect([csize, usize], `descriptor sizes of ${st.e.name}`).toEqual([st.e.size, st.e.size]);
      st.e.crc = crc;
      this.pos += len - before;
      chunk = chunk.subarray(len - before);
      this.#pending = new Uint8Array(0);
      this.#next();
    }
    if (chunk.length === 0) return;
    // What #take kept waits for the next write.
    this.pos += chunk.length;
  }

  #next(): void {
    this.#entriesLeft--;
    this.#state = this.#entriesLeft > 0 ? { s: 'header' } : { s: 'tail' };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  async abort(reason: unknown): Promise<void> {
    throw reason;
  }

  /** The central directory and end records, checked against what the stream showed. */
  checkTail(): { zip64Entries: string[] } {
    expect(this.#state.s).toBe('tail');
    const tail = this.#pending;
    const tailAt = this.pos - tail.length;
    const dv = new DataView(tail.buffer, tail.byteOffset, tail.length);
    // End of central directory (§4.3.16): the last 22 bytes (no comment).
    const end = tail.length - 22;
    expect(dv.getUint32(end, true), 'end of central directory').toBe(0x06054b50);
    expect(dv.getUint16(end + 20, true), 'no comment').toBe(0);
    // The archive passed 4 GiB, so the central directory's offset is only in the ZIP64 end record (§4.4.24).
    expect(dv.getUint32(end + 16, true), 'EOCD offset says "see ZIP64"').toBe(MAX32);
    // ZIP64 end of central directory locator (§4.3.15), just before.
    const loc = end - 20;
    expect(dv.getUint32(loc, true), 'ZIP64 locator').toBe(0x07064b50);
    const z64At = Number(dv.getBigUint64(loc + 8, true));
    expect(dv.getUint32(loc + 16, true), 'total disks').toBe(1);
    // ZIP64 end of central directory record (§4.3.14), where the locator says.
    const z = z64At - tailAt;
    expect(z).toBeGreaterThanOrEqual(0);
    expect(dv.getUint32(z, true), 'ZIP64 end record').toBe(0x06064b50);
    expect(Number(dv.getBigUint64(z + 4, true)), 'ZIP64 end record size').toBe(44);
    expect(dv.getUint16(z + 14, true), 'version needed: 4.5 (ZIP64)').toBeGreaterThanOrEqual(45);
    const count = Number(dv.getBigUint64(z + 32, true));
    const cdSize = Number(dv.getBigUint64(z + 40, true));
    const cdAt = Number(dv.getBigUint64(z + 48, true));
    expect(Number(dv.getBigUint64(z + 24, true)), 'entries on this disk').toBe(count);
    expect(count, 'entries').toBe(this.seen.length);
    expect(cdAt, 'central directory begins where the last entry ended').toBe(tailAt);
    expect(cdAt + cdSize, 'central directory ends at the ZIP64 end record').toBe(z64At);
    const zip64Entries: string[] = [];
    let at = 0;
    for (const e of this.seen) {
      expect(dv.getUint32(at, true), 'central directory header').toBe(0x02014b50);
      const nameLen = dv.getUint16(at + 28, true);
      const extraLen = dv.getUint16(at + 30, true);
      const commentLen = dv.getUint16(at + 32, true);
      const name = new TextDecoder().decode(tail.subarray(at + 46, at + 46 + nameLen));
      expect(name).toBe(e.name);
      expect(dv.getUint16(at + 10, true), `${name}: stored`).toBe(0);
      let compressed = dv.getUint32(at + 20, true);
      let size = dv.getUint32(at + 24, true);
      let offset = dv.getUint32(at + 42, true);
      const crc = dv.getUint32(at + 16, true);
      // ZIP64 extended information (§4.5.3): only the fields whose 32-bit value reads 0xFFFFFFFF, in order.
      let hasZip64 = false;
      for (let x = at + 46 + nameLen; x < at + 46 + nameLen + extraLen;) {
        const id = dv.getUint16(x, true);
        const len = dv.getUint16(x + 2, true);
        if (id === 0x0001) {
          hasZip64 = true;
          let f = x + 4;
          const field = () => {
            expect(f + 8, `${name}: ZIP64 field within its extra block`).toBeLessThanOrEqual(x + 4 + len);
            const value = Number(dv.getBigUint64(f, true));
            f += 8;
            return value;
          };
          if (size === MAX32) size = field();
          if (compressed === MAX32) compressed = field();
          if (offset === MAX32) offset = field();
        }
        x += 4 + len;
      }
      if (hasZip64) zip64Entries.push(name);
      expect(size === MAX32 || offset === MAX32, `${name}: a 0xFFFFFFFF without its ZIP64 field`).toBe(false);
      expect([size, compressed, offset, crc], `${name}: size, compressed size, offset, CRC-32`).toEqual([e.size, e.size, e.offset, e.crc]);
      at += 46 + nameLen + extraLen + commentLen;
    }
    expect(at, 'central directory size').toBe(cdSize);
    return { zip64Entries };
  }
}

describe('retrieveZip past 4 GiB (ZIP64)', () => {
  it(
    'writes a valid ZIP64 archive for an entry over 4 GiB and entries beyond 4 GiB, at flat memory',
    async () => {
      // An entry over 4 GiB (sizes in ZIP64 form), then a small file and a folder whose headers start past
      // 4 GiB (offsets in ZIP64 form), and the central directory past 4 GiB (ZIP64 end records).
      const files = [
        { id: 'big', name: 'big.bin', size: 4 * GiB + 3 * CHUNK + 12_345 },
        { id: 'small', name: 'small.txt', size: 100_003 }
      ];
      for (const f of files) sources.set(f.id, { name: f.name, size: f.size });
      const check = new StreamingZipCheck(4, (name) => files.find((f) => f.name === name.split('/').pop())!.size);
      let peak = 0;
      const before = process.memoryUsage();
      const sample = () => {
        const m = process.memoryUsage();
        peak = Math.max(peak, m.rss - before.rss);
      };
      const timer = setInterval(sample, 200);
      let progress = 0;
      const t = performance.now();
      try {
        await retrieveZip(
          [
            { kind: 'file', id: 'big', name: 'big.bin', size: files[0]!.size, dir: ['Library'] },
            { kind: 'file', id: 'small', name: 'small.txt', size: files[1]!.size, dir: ['Library'] },
            { kind: 'folder', path: ['Library', 'empty'] },
            { kind: 'file', id: 'small', name: 'small.txt', size: files[1]!.size, dir: [] }
          ],
          check,
          { onProgress: (done) => (progress = done) }
        );
      } finally {
        clearInterval(timer);
      }
      sample();
      const seconds = (performance.now() - t) / 1000;
      expect(check.closed).toBe(true);
      // The last entry regenerates small.txt (same bytes, same CRC as the first time).
      expect(check.seen.map((e) => [e.name, e.size])).toEqual([
        ['Library/big.bin', files[0]!.size],
        ['Library/small.txt', files[1]!.size],
        ['Library/empty/', 0],
        ['small.txt', files[1]!.size]
      ]);
      const { zip64Entries } = check.checkTail();
      // The data the archive holds is what was generated, byte for byte as far as CRC-32 tells.
      expect(check.seen.filter((e) => !e.name.endsWith('/')).map((e) => e.crc)).toEqual(given);
      expect(given[2]).toBe(given[1]);
      expect(check.pos).toBeGreaterThan(4 * GiB);
      expect(check.seen[1]!.offset, 'the small file starts past 4 GiB').toBeGreaterThan(MAX32);
      expect(zip64Entries).toEqual(['Library/big.bin', 'Library/small.txt', 'Library/empty/', 'small.txt']);
      expect(progress).toBe(files[0]!.size + 2 * files[1]!.size);
      // Flat memory: over 4 GiB went through, the process grew by a small fraction of it.
      expect(peak).toBeLessThan(256 * 1024 * 1024);
      process.stdout.write(
        `zip64: ${(check.pos / GiB).toFixed(3)} GiB through retrieveZip in ${seconds.toFixed(1)} s (${(check.pos / 2 ** 20 / seconds).toFixed(0)} MiB/s), peak RSS growth ${(peak / 2 ** 20).toFixed(0)} MiB\n`
      );
    },
    // About 17 s of CPU (4 GiB through client-zip's CRC-32, zlib's twice, and the copies); 67-100 s of wall
    // time on the shared 2-core machine at load 12-30. The bound leaves room for load.
    300_000
  );
});
