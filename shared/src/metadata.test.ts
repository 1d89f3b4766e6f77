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
    expect([code({ createdAt: 0 }), code({ createdAt: -1 }), code({ createdAt: 1.5 }), code({ createdAt: Number.MAX_SAFE_INTEGER + 2 })]).toEqual([
      'ok',
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT'
    ]);
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

// Second Stryker run on this module (issue #24): the refusals were only checked by code, and the largest
// legal values were only reached by chance in the property test.
describe('metadata record at its limits', () => {
  const refusal = (bytes: Uint8Array, opts?: { lenientText?: boolean }) => {
    try {
      decodeMetadata(bytes, opts);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      return { code: e.code, message: e.message };
    }
    return 'ok';
  };
  const fmt = (message: string) => ({ code: 'BAD_SHARE_FORMAT', message });

  it('says what is wrong with a record, in one sentence per fault', () => {
    const good = encodeMetadata(record({ name: 'ab', type: 'cd' }));
    const edit = (write: (b: Uint8Array, dv: DataView) => void) => {
      const b = good.slice();
      write(b, new DataView(b.buffer));
      return refusal(b);
    };
    expect(refusal(good.subarray(0, 10))).toEqual(fmt('Metadata record is truncated.'));
    expect(edit((b) => (b[0] = 3))).toEqual(fmt('Unsupported metadata version.'));
    // Version 2 (compact records) continues with a mode byte, and 7 is no known mode.
    expect(edit((b) => ((b[0] = 2), (b[1] = 7)))).toEqual(fmt('Unknown mode in metadata record.'));
    expect(edit((b) => (b[59] = 0xff))).toEqual(fmt('Metadata text is not UTF-8.'));
    expect(refusal(new Uint8Array([...good, 0]))).toEqual(fmt('Metadata record has trailing bytes.'));
    expect(edit((_b, dv) => dv.setBigUint64(33, BigInt(Number.MAX_SAFE_INTEGER) + 1n))).toEqual(fmt('Metadata value out of range.'));
    expect(edit((_b, dv) => dv.setUint32(45, 4))).toEqual(fmt('Metadata chunking is inconsistent.'));
    // A chunk size past the format's largest, with a chunk count that agrees with it: the range alone refuses.
    const wide = encodeMetadata(record({ size: 10, chunkSize: 64 * 1024 * 1024 + 1, chunkCount: 1 }));
    expect(refusal(wide)).toEqual(fmt('Metadata chunking is inconsistent.'));
  });

  it('says which argument is wrong when a caller\u2019s metadata is refused', () => {
    const ok = { name: 'x', size: 1, type: '', chunkSize: 10, createdAt: 0 };
    const refused = (over: object) => {
      try {
        checkFileMetadata({ ...ok, ...over });
      } catch (err) {
        const e = err as { code?: string; message?: string };
        return { code: e.code, message: e.message };
      }
      return 'ok';
    };
    const arg = (message: string) => ({ code: 'INVALID_ARGUMENT', message });
    expect(refused({ size: 0.5 })).toEqual(arg('"size" expected a non-negative integer'));
    expect(refused({ chunkSize: 0 })).toEqual(arg('"chunkSize" expected integer 1..67108864'));
    expect(refused({ chunkSize: 1, size: 0xffffffff })).toEqual(arg('File has too many chunks.'));
    expect(refused({ name: 'n'.repeat(1025) })).toEqual(arg('"name" is longer than 1024 bytes'));
    expect(refused({ type: 't'.repeat(256) })).toEqual(arg('"type" is longer than 255 bytes'));
    expect(refused({ createdAt: -1 })).toEqual(arg('"createdAt" expected milliseconds since 1970'));
  });

  it('decodes every field at its largest legal value', () => {
    const max = record({
      size: Number.MAX_SAFE_INTEGER,
      chunkSize: 64 * 1024 * 1024,
      chunkCount: Math.ceil(Number.MAX_SAFE_INTEGER / (64 * 1024 * 1024)),
      createdAt: Number.MAX_SAFE_INTEGER
    });
    expect(decodeMetadata(encodeMetadata(max))).toEqual(max);
    const oneByteChunks = record({ size: 0xfffffffe, chunkSize: 1, chunkCount: 0xfffffffe });
    expect(decodeMetadata(encodeMetadata(oneByteChunks))).toEqual(oneByteChunks);
    const empty = record({ size: 0, chunkSize: 1, chunkCount: 0, name: '', type: '' });
    expect(decodeMetadata(encodeMetadata(empty))).toEqual(empty);
  });

  it('keeps a record whose name is not UTF-8 only when asked to, and says it was repaired', () => {
    const b = encodeMetadata(record({ name: 'ab' }));
    b[59] = 0xff;
    expect(refusal(b)).toEqual(fmt('Metadata text is not UTF-8.'));
    const kept = decodeMetadata(b, { lenientText: true });
    expect(kept.name).toBe('\ufffdb');
    expect(kept.textRepaired).toBe(true);
    expect('textRepaired' in decodeMetadata(encodeMetadata(record()), { lenientText: true })).toBe(false);
  });
});

describe('compact metadata record (version 2)', () => {
  const compact = { ...record({ name: 'ab', type: 'cd' }), compact: { dataXs: [9, 200, 3] } };

  it('round-trips mode, key and data points, and adds exactly 2 + k bytes to the version-1 layout', () => {
    const bytes = encodeMetadata(compact);
    const v1 = encodeMetadata(record({ name: 'ab', type: 'cd' }));
    expect(bytes.length).toBe(v1.length + 2 + 3);
    expect([bytes[0], bytes[1]]).toEqual([2, 1]);
    // The rest of the version-1 fields follow unchanged after the mode byte, then k and the points.
    expect(Buffer.from(bytes.subarray(2, 2 + v1.length - 1)).equals(Buffer.from(v1.subarray(1)))).toBe(true);
    expect(Array.from(bytes.subarray(bytes.length - 4))).toEqual([3, 9, 200, 3]);
    expect(decodeMetadata(bytes)).toEqual(compact);
    expect(decodeMetadata(v1).compact).toBeUndefined();
  });

  it.each([
    ['a zero point', [0, 5]],
    ['a repeated point', [5, 5]],
    ['a single point (k = 1)', [5]]
  ])('refuses %s', (_name, dataXs) => {
    expect(() => decodeMetadata(encodeMetadata({ ...compact, compact: { dataXs } }))).toThrow(expect.objectContaining({ code: 'BAD_SHARE_FORMAT', message: 'Metadata has invalid data points.' }));
  });

  it('refuses a record cut inside its data points', () => {
    const bytes = encodeMetadata(compact);
    expect(() => decodeMetadata(bytes.subarray(0, bytes.length - 1))).toThrow(expect.objectContaining({ code: 'BAD_SHARE_FORMAT', message: 'Metadata record is truncated.' }));
  });
});
