import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkFileMetadata, chunkCountFor, decodeMetadata, encodeMetadata, type MetadataRecord } from './metadata.js';

const record = (over: Partial<MetadataRecord> = {}): MetadataRecord => ({
  name: 'report.pdf',
  size: 3_000_000,
  type: 'application/pdf',
  chunkSize: 1 << 20,
  chunkCount: 3,
  createdAt: 1_700_000_000_000,
  macKey: new Uint8Array(32).fill(9),
  ...over
});

describe('metadata record', () => {
  it('round-trips any name, type and size', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200 }),
        fc.string({ maxLength: 60 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: 64 * 1024 * 1024 }),
        (name, type, size, chunkSize) => {
          const chunkCount = chunkCountFor(size, chunkSize);
          fc.pre(chunkCount <= 0xfffffffe);
          const r = record({ name, type, size, chunkSize, chunkCount });
          expect(decodeMetadata(encodeMetadata(r))).toEqual(r);
        }
      )
    );
  });

  it('rejects truncation, trailing bytes, bad UTF-8 and inconsistent chunking', () => {
    const bytes = encodeMetadata(record());
    const code = (b: Uint8Array): string | undefined => {
      try {
        decodeMetadata(b);
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return undefined;
    };
    for (let cut = 0; cut < bytes.length; cut++) expect(code(bytes.subarray(0, cut))).toBe('BAD_SHARE_FORMAT');
    expect(code(new Uint8Array([...bytes, 0]))).toBe('BAD_SHARE_FORMAT');
    expect(code(encodeMetadata(record({ chunkCount: 4 })))).toBe('BAD_SHARE_FORMAT');
    const badUtf8 = encodeMetadata(record({ name: 'ab' }));
    badUtf8[1 + 32 + 8 + 4 + 4 + 8 + 2] = 0xff;
    expect(code(badUtf8)).toBe('BAD_SHARE_FORMAT');
  });

  it('validates metadata supplied by callers', () => {
    expect(() => checkFileMetadata({ name: 'x', size: -1, type: '', chunkSize: 10, createdAt: 0 })).toThrow('"size"');
    expect(() => checkFileMetadata({ name: 'x', size: 1, type: '', chunkSize: 0, createdAt: 0 })).toThrow('"chunkSize"');
    expect(() => checkFileMetadata({ name: 'x'.repeat(1025), size: 1, type: '', chunkSize: 10, createdAt: 0 })).toThrow('"name"');
  });

  // Each limit exactly at and just past its edge (survivors of the first Stryker run).
  it('takes every limit up to its edge and refuses one past it, with INVALID_ARGUMENT', () => {
    const ok = { name: 'x', size: 1, type: '', chunkSize: 10, createdAt: 0 };
    const code = (over: object) => {
      try {
        checkFileMetadata({ ...ok, ...over });
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return 'ok';
    };
    const MAX_CHUNK = 64 * 1024 * 1024;
    expect([code({ chunkSize: MAX_CHUNK }), code({ chunkSize: MAX_CHUNK + 1 }), code({ chunkSize: 1.5 })]).toEqual(['ok', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT']);
    expect([code({ name: 'é'.repeat(512) }), code({ name: 'é'.repeat(512) + 'x' })]).toEqual(['ok', 'INVALID_ARGUMENT']);
    expect([code({ type: 't'.repeat(255) }), code({ type: 't'.repeat(256) })]).toEqual(['ok', 'INVALID_ARGUMENT']);
    expect([code({ createdAt: 0 }), code({ createdAt: -1 }), code({ createdAt: 1.5 }), code({ createdAt: Number.MAX_SAFE_INTEGER + 2 })]).toEqual(['ok', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT']);
    // Chunk count: at most 2^32 - 2 chunks (0xffffffff is kept out of range of u32 index arithmetic).
    expect([code({ chunkSize: 1, size: 0xfffffffe }), code({ chunkSize: 1, size: 0xffffffff })]).toEqual(['ok', 'INVALID_ARGUMENT']);
  });

  it('decoding refuses records whose fields are out of range, with BAD_SHARE_FORMAT', () => {
    const decodeCode = (bytes: Uint8Array) => {
      try {
        decodeMetadata(bytes);
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return 'ok';
    };
    const good = encodeMetadata(record());
    const at = (offset: number, write: (dv: DataView) => void) => {
      const b = good.slice();
      write(new DataView(b.buffer));
      return decodeCode(b);
    };
    // Offsets: version 0, key 1..32, size 33, chunk size 41, chunk count 45, created 49.
    expect(decodeCode(good)).toBe('ok');
    expect(at(33, (dv) => dv.setBigUint64(33, BigInt(Number.MAX_SAFE_INTEGER) + 1n))).toBe('BAD_SHARE_FORMAT');
    expect(at(49, (dv) => dv.setBigUint64(49, BigInt(Number.MAX_SAFE_INTEGER) + 1n))).toBe('BAD_SHARE_FORMAT');
    expect(at(41, (dv) => dv.setUint32(41, 0))).toBe('BAD_SHARE_FORMAT');
    expect(at(41, (dv) => dv.setUint32(41, 64 * 1024 * 1024 + 1))).toBe('BAD_SHARE_FORMAT');
    expect(at(45, (dv) => dv.setUint32(45, 4))).toBe('BAD_SHARE_FORMAT');
  });
});
