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
});
