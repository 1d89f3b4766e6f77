import { describe, expect, it } from 'vitest';
import { parseAnnouncement } from './announcement.js';
import { hasErrorCode } from './errors.js';

const good = {
  id: '3f2b8c1e-5d6a-4b7c-8e9f-0a1b2c3d4e5f',
  name: 'relay-1',
  location: 'Paris',
  url: 'http://127.0.0.1:8081/',
  version: '0.1.0',
  storage: 'Disk',
  freeBytes: 10,
  usedBytes: 0
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return hasErrorCode(err) ? err.code : 'NOT_A_KOFN_ERROR';
  }
  return undefined;
}

describe('parseAnnouncement', () => {
  it('accepts a well-formed announcement and normalises the URL', () => {
    expect(parseAnnouncement(good)).toEqual({ ...good, url: 'http://127.0.0.1:8081' });
  });

  it.each([
    ['non-object', 'x'],
    ['array', []],
    ['null', null],
    ['bad id', { ...good, id: '../etc' }],
    ['uppercase id', { ...good, id: good.id.toUpperCase() }],
    ['javascript url', { ...good, url: 'javascript:alert(1)' }],
    ['url with credentials', { ...good, url: 'http://u:p@127.0.0.1:1' }],
    ['url with query', { ...good, url: 'http://127.0.0.1:1/?a=b' }],
    ['control character in name', { ...good, name: 'a\u0000b' }],
    ['bidi override in name', { ...good, name: 'a\u202eb' }],
    ['empty name', { ...good, name: '' }],
    ['name too long', { ...good, name: 'x'.repeat(65) }],
    ['unknown storage', { ...good, storage: 'Tape' }],
    ['negative bytes', { ...good, usedBytes: -1 }],
    ['fractional bytes', { ...good, freeBytes: 1.5 }],
    ['string bytes', { ...good, freeBytes: '10' }]
  ])('rejects %s with BAD_REQUEST', (_name, input) => {
    expect(codeOf(() => parseAnnouncement(input))).toBe('BAD_REQUEST');
  });

  it('names the valid storage modes in its message', () => {
    expect(() => parseAnnouncement({ ...good, storage: 'Tape' })).toThrow('Valid values are Disk, S3.');
  });
});
