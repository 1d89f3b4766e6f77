import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FILE_ID_HEX, FILE_ID_PATTERN, fileIdFromHex, fileIdToHex, fromHex, isFileId, newFileId, toHex } from './ids.js';
import { seededSource, useRandomSource } from './testing.js';

describe('toHex / fromHex', () => {
  it('known answers, independent of the code: lower case, two digits per byte, leading zeros kept', () => {
    expect(toHex(Uint8Array.of())).toBe('');
    expect(toHex(Uint8Array.of(0, 1, 0x0f, 0x10, 0xab, 0xff))).toBe('00010f10abff');
    expect(Array.from(fromHex('00010f10abff'))).toEqual([0, 1, 0x0f, 0x10, 0xab, 0xff]);
  });

  it("agree with Node's own hex codec for any bytes (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const hex = toHex(b);
        expect(hex).toBe(Buffer.from(b).toString('hex'));
        expect(fromHex(hex)).toEqual(b);
      })
    );
  });

  it('fromHex refuses odd length, upper case and other characters with INVALID_ARGUMENT', () => {
    for (const bad of ['a', 'AB', 'zz', '0g', ' 00', '00 ', '0x00', 12 as unknown as string]) {
      expect(() => fromHex(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});

describe('file ids', () => {
  it('isFileId accepts exactly 32 lower-case hex digits', () => {
    expect(isFileId('0123456789abcdef0123456789abcdef')).toBe(true);
    for (const bad of [
      '0123456789ABCDEF0123456789abcdef',
      '0123456789abcdef0123456789abcde',
      '0123456789abcdef0123456789abcdef0',
      'g123456789abcdef0123456789abcdef',
      '',
      42,
      null,
      undefined,
      ['0123456789abcdef0123456789abcdef']
    ]) {
      expect(isFileId(bad)).toBe(false);
    }
    expect(FILE_ID_PATTERN.test('ab'.repeat(16))).toBe(true);
    expect(new RegExp(`^/f/(${FILE_ID_HEX})$`).exec(`/f/${'cd'.repeat(16)}`)?.[1]).toBe('cd'.repeat(16));
  });

  it('fileIdFromHex / fileIdToHex round trip 16 bytes and refuse anything but a file id', () => {
    const id = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
    expect(fileIdToHex(id)).toBe('00112233445566778899aabbccddeeff');
    expect(fileIdFromHex('00112233445566778899aabbccddeeff')).toEqual(id);
    for (const bad of ['00', '00112233445566778899AABBCCDDEEFF', '00112233445566778899aabbccddeeff00']) {
      expect(() => fileIdFromHex(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: '"fileId" expected 32 lowercase hex digits' }));
    }
  });

  it("newFileId draws 16 bytes from the project's random module", () => {
    const expected = new Uint8Array(16);
    seededSource(11).fill(expected);
    const undo = useRandomSource(seededSource(11));
    try {
      expect(newFileId()).toBe(toHex(expected));
    } finally {
      undo();
    }
    const a = newFileId();
    expect(isFileId(a)).toBe(true);
    expect(newFileId()).not.toBe(a);
  });
});
