/**
 * The share-chunk header (chunk-format.ts) checked directly: each malformed field is refused with its
 * code and message, the boundaries hold, and the helpers compare and convert exactly. Written to kill the
 * mutants Stryker found surviving here (stryker/README.md): the stream suites reach these checks only
 * through whole share chunks and look at codes alone.
 */
import { describe, expect, it } from 'vitest';
import { FLAG_FINAL, FLAG_METADATA, HEADER_BYTES, MODE_COMPACT, bytesEqual, flatHeaderToTree, parseHeader, parseHeaderPrefix, treeHeaderToFlat, writeHeader } from './chunk-format.js';
import { fileIdFromHex, fileIdToHex } from './ids.js';
import { importMacKey } from './mac.js';

const FILE_ID = Uint8Array.from({ length: 16 }, (_, i) => i + 1);

function chunk(over: { flags?: number; x?: number; k?: number; index?: number; bodyLength?: number } = {}, body = over.bodyLength ?? 3): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + body);
  writeHeader(out, { flags: over.flags ?? FLAG_FINAL, x: over.x ?? 1, k: over.k ?? 2, fileId: FILE_ID, index: over.index ?? 1, epoch: 7, bodyLength: over.bodyLength ?? body });
  return out;
}

/** A version 2 (compact) header, optionally with one raw byte changed. */
function compact(over: { mode?: number; pad?: number; index?: number; flags?: number; at?: number } = {}): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + 3);
  writeHeader(out, { flags: over.flags ?? FLAG_FINAL, x: 1, k: 2, fileId: FILE_ID, index: over.index ?? 1, epoch: 7, bodyLength: 3, mode: MODE_COMPACT, pad: over.pad ?? 0 });
  if (over.mode !== undefined) out[36] = over.mode;
  if (over.at !== undefined) out[over.at] = 1;
  return out;
}

const failure = (f: () => unknown): { code?: string; message?: string } => {
  try {
    f();
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
  return {};
};

describe('parseHeader', () => {
  it('reads back what writeHeader wrote, down to a header with an empty body', () => {
    expect(parseHeader(chunk())).toEqual({ flags: FLAG_FINAL, x: 1, k: 2, fileId: FILE_ID, index: 1, epoch: 7, bodyLength: 3 });
    expect(parseHeader(chunk({}, 0)).bodyLength).toBe(0);
    expect(parseHeaderPrefix(chunk({ bodyLength: 500 }, 0)).bodyLength).toBe(500);
  });

  const edit = (at: number, value: number) => {
    const c = chunk();
    c[at] = value;
    return c;
  };
  const reserved = chunk();
  reserved[39] = 1;
  it.each([
    ['shorter than a header', chunk().subarray(0, HEADER_BYTES - 1), 'BAD_SHARE_FORMAT', 'Share chunk shorter than its header.'],
    ['bad magic', edit(3, 0x4d), 'BAD_SHARE_FORMAT', 'Not a kofn share chunk (bad magic).'],
    ['unknown version', edit(4, 4), 'BAD_SHARE_FORMAT', 'Unsupported share format version 4.'],
    // Version 3 is a tree share (docs/multilevel.md): a flat header relabelled 3 has group x = 0 and is refused.
    ['version 3 without a group', edit(4, 3), 'INVALID_X', 'Share with group x = 0 rejected.'],
    // Version 2 exists for compact files only: a Shamir header relabelled 2 (mode byte 0) is refused.
    ['version 2 without a mode', edit(4, 2), 'BAD_SHARE_FORMAT', 'Unknown mode 0 in a version 2 share header.'],
    ['version 2 with an unknown mode', compact({ mode: 2 }), 'BAD_SHARE_FORMAT', 'Unknown mode 2 in a version 2 share header.'],
    ['version 2 with reserved bytes set', compact({ at: 39 }), 'BAD_SHARE_FORMAT', 'Reserved header bytes are not zero.'],
    ['padding as large as k', compact({ pad: 2 }), 'BAD_SHARE_FORMAT', 'Fragment padding must be below the threshold.'],
    ['padding on a metadata chunk', compact({ pad: 1, index: 0, flags: FLAG_METADATA }), 'BAD_SHARE_FORMAT', 'A metadata chunk has no fragment padding.'],
    ['unknown flag', edit(5, FLAG_FINAL | 4), 'BAD_SHARE_FORMAT', 'Unknown flags in share header.'],
    ['x = 0', chunk({ x: 0 }), 'INVALID_X', 'Share with x = 0 rejected.'],
    ['k = 1', chunk({ k: 1 }), 'BAD_SHARE_FORMAT', 'Share header has a threshold below 2.'],
    ['reserved bytes set', reserved, 'BAD_SHARE_FORMAT', 'Reserved header bytes are not zero.'],
    ['index 0 without METADATA', chunk({ index: 0, flags: FLAG_FINAL }), 'BAD_SHARE_FORMAT', 'Metadata flag and chunk index disagree.'],
    ['METADATA on a data chunk', chunk({ index: 1, flags: FLAG_METADATA }), 'BAD_SHARE_FORMAT', 'Metadata flag and chunk index disagree.'],
    ['body longer than declared', chunk({ bodyLength: 3 }, 4), 'BAD_SHARE_FORMAT', 'Share chunk length does not match its header.']
  ])('refuses %s', (_name, bytes, code, message) => {
    expect(failure(() => parseHeader(bytes))).toEqual({ code, message });
  });

  it('writes Shamir headers as version 1 and compact ones as version 2 with mode and padding', () => {
    expect(chunk()[4]).toBe(1);
    const c = compact({ pad: 1 });
    expect([c[4], c[36], c[37], c[38], c[39]]).toEqual([2, MODE_COMPACT, 1, 0, 0]);
    expect(parseHeader(c)).toEqual({ flags: FLAG_FINAL, x: 1, k: 2, fileId: FILE_ID, index: 1, epoch: 7, bodyLength: 3, mode: MODE_COMPACT, pad: 1 });
  });

  it('accepts k = 2 and index 0 with METADATA', () => {
    expect(parseHeader(chunk({ k: 2, index: 0, flags: FLAG_METADATA | FLAG_FINAL })).index).toBe(0);
  });
});

describe('tree and flat headers (remote groups)', () => {
  const FLAT_ID = Uint8Array.from({ length: 16 }, (_, i) => 200 - i);
  const tree = (): Uint8Array => {
    const out = new Uint8Array(HEADER_BYTES + 3);
    writeHeader(out, { flags: FLAG_FINAL, x: 9, k: 2, fileId: FILE_ID, index: 4, epoch: 7, bodyLength: 3, group: { x: 5, k: 3 } });
    out.set([1, 2, 3], HEADER_BYTES);
    return out;
  };

  it('makes a tree chunk flat under the other file id and epoch, and back exactly, body untouched', () => {
    const c = tree();
    const original = c.slice();
    treeHeaderToFlat(c, { fileId: FLAT_ID, epoch: 11 });
    const flat = parseHeader(c);
    expect(c[4]).toBe(1);
    expect(flat).toEqual({ flags: FLAG_FINAL, x: 9, k: 2, fileId: FLAT_ID, index: 4, epoch: 11, bodyLength: 3 });
    expect(Array.from(c.subarray(36))).toEqual([0, 0, 0, 0, 1, 2, 3]);
    expect(flatHeaderToTree(c, { fileId: FLAT_ID, epoch: 11 }, { fileId: FILE_ID, epoch: 7, groupX: 5, groupK: 3 })).toBe(true);
    expect(c).toEqual(original);
    expect(parseHeader(c).group).toEqual({ x: 5, k: 3 });
  });

  it('refuses to flatten anything but a tree chunk', () => {
    expect(() => treeHeaderToFlat(chunk(), { fileId: FLAT_ID, epoch: 1 })).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => treeHeaderToFlat(new Uint8Array(39), { fileId: FLAT_ID, epoch: 1 })).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });

  it('leaves a chunk of another file, epoch or version, or with reserved bytes set, as it came', () => {
    const flatten = (): Uint8Array => {
      const c = tree();
      treeHeaderToFlat(c, { fileId: FLAT_ID, epoch: 11 });
      return c;
    };
    const home = { fileId: FILE_ID, epoch: 7, groupX: 5, groupK: 3 };
    const cases: Array<[string, Uint8Array, { fileId: Uint8Array; epoch: number }]> = [
      ['other file', flatten(), { fileId: FILE_ID, epoch: 11 }],
      ['other epoch', flatten(), { fileId: FLAT_ID, epoch: 12 }],
      ['still a tree chunk', tree(), { fileId: FILE_ID, epoch: 7 }],
      [
        'reserved byte set',
        (() => {
          const c = flatten();
          c[39] = 1;
          return c;
        })(),
        { fileId: FLAT_ID, epoch: 11 }
      ],
      ['short', new Uint8Array(39), { fileId: FLAT_ID, epoch: 11 }]
    ];
    for (const [name, c, expected] of cases) {
      const before = c.slice();
      expect(flatHeaderToTree(c, expected, home), name).toBe(false);
      expect(c, name).toEqual(before);
    }
  });
});

describe('file ids and byte comparison', () => {
  it('converts hex both ways and refuses anything but 32 lowercase hex digits', () => {
    const hex = fileIdToHex(FILE_ID);
    expect(hex).toBe('0102030405060708090a0b0c0d0e0f10');
    expect(fileIdFromHex(hex)).toEqual(FILE_ID);
    for (const wrong of [`${hex}0`, `0${hex}`, `x${hex.slice(1)}`, hex.toUpperCase(), hex.slice(2)]) {
      expect(failure(() => fileIdFromHex(wrong))).toEqual({ code: 'INVALID_ARGUMENT', message: '"fileId" expected 32 lowercase hex digits' });
    }
  });

  it('bytesEqual: equal only with the same length and the same bytes', () => {
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(bytesEqual(Uint8Array.of(1, 0), Uint8Array.of(1))).toBe(false);
    expect(bytesEqual(Uint8Array.of(1), Uint8Array.of(1, 0))).toBe(false);
    expect(bytesEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});

describe('MAC key', () => {
  it('is imported non-extractable, for encryption only (GMAC over AES-GCM)', async () => {
    const key = await importMacKey(new Uint8Array(32).fill(1));
    expect(key.extractable).toBe(false);
    expect(key.usages).toEqual(['encrypt']);
    expect(key.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 });
  });
});
