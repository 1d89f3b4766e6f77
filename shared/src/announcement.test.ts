import { describe, expect, it } from 'vitest';
import { parseEnrollment, parseHeartbeat, relaySigningInput } from './announcement.js';
import { hasErrorCode } from './errors.js';

const report = {
  name: 'relay-1',
  location: 'Paris',
  url: 'http://127.0.0.1:8081/',
  version: '0.1.0',
  storage: 'Disk',
  freeBytes: 10,
  usedBytes: 0
};
const heartbeat = { ...report, relayId: '3f2b8c1e-5d6a-4b7c-8e9f-0a1b2c3d4e5f', at: 1_795_000_000_000 };
// A real Ed25519 public key's base64url (RFC 8032 §7.1 test 1).
const publicKey = '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo';
const enrollment = { ...report, token: 'A'.repeat(43), publicKey, at: 1_795_000_000_000 };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return hasErrorCode(err) ? err.code : 'NOT_A_KOFN_ERROR';
  }
  return undefined;
}

describe('parseHeartbeat', () => {
  it('accepts a well-formed heartbeat and normalises the URL', () => {
    expect(parseHeartbeat(heartbeat)).toEqual({ ...heartbeat, url: 'http://127.0.0.1:8081' });
  });

  it.each([
    ['non-object', 'x'],
    ['array', []],
    ['null', null],
    ['bad id', { ...heartbeat, relayId: '../etc' }],
    ['uppercase id', { ...heartbeat, relayId: heartbeat.relayId.toUpperCase() }],
    ['missing timestamp', { ...heartbeat, at: undefined }],
    ['fractional timestamp', { ...heartbeat, at: 1.5 }],
    ['string timestamp', { ...heartbeat, at: '1795000000000' }],
    ['javascript url', { ...heartbeat, url: 'javascript:alert(1)' }],
    ['url with credentials', { ...heartbeat, url: 'http://u:p@127.0.0.1:1' }],
    ['url with query', { ...heartbeat, url: 'http://127.0.0.1:1/?a=b' }],
    ['control character in name', { ...heartbeat, name: 'a\u0000b' }],
    ['bidi override in name', { ...heartbeat, name: 'a\u202eb' }],
    ['empty name', { ...heartbeat, name: '' }],
    ['name too long', { ...heartbeat, name: 'x'.repeat(65) }],
    ['unknown storage', { ...heartbeat, storage: 'Tape' }],
    ['negative bytes', { ...heartbeat, usedBytes: -1 }],
    ['fractional bytes', { ...heartbeat, freeBytes: 1.5 }],
    ['string bytes', { ...heartbeat, freeBytes: '10' }],
    ['free bytes missing', { ...heartbeat, freeBytes: undefined }],
    ['free bytes past 2^53', { ...heartbeat, freeBytes: 2 ** 53 }],
    ['infinite free bytes', { ...heartbeat, freeBytes: Infinity }],
    ['free bytes as an object', { ...heartbeat, freeBytes: { bytes: 1 } }],
    ['null used bytes', { ...heartbeat, usedBytes: null }]
  ])('rejects %s with BAD_REQUEST', (_name, input) => {
    expect(codeOf(() => parseHeartbeat(input))).toBe('BAD_REQUEST');
  });

  it('takes null free space (a store that has no free-space figure, such as S3) as not reported', () => {
    expect(parseHeartbeat({ ...heartbeat, storage: 'S3', freeBytes: null }).freeBytes).toBeNull();
    expect(parseHeartbeat({ ...heartbeat, freeBytes: Number.MAX_SAFE_INTEGER }).freeBytes).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('names the valid storage modes in its message', () => {
    expect(() => parseHeartbeat({ ...heartbeat, storage: 'Tape' })).toThrow('Valid values are Disk, S3.');
  });
});

describe('parseEnrollment', () => {
  it('accepts a well-formed enrollment', () => {
    expect(parseEnrollment(enrollment)).toEqual({ ...enrollment, url: 'http://127.0.0.1:8081' });
  });

  it.each([
    ['short token', { ...enrollment, token: 'abc' }],
    ['token with spaces', { ...enrollment, token: 'a b'.repeat(10) }],
    ['key of 31 bytes', { ...enrollment, publicKey: publicKey.slice(0, 42) }],
    ['padded key', { ...enrollment, publicKey: `${publicKey}=` }],
    // Same 32 bytes but with non-zero unused low bits in the last character: not the canonical encoding.
    ['non-canonical key', { ...enrollment, publicKey: `${publicKey.slice(0, 42)}p` }],
    ['standard base64 key', { ...enrollment, publicKey: publicKey.replace('_', '/') }],
    ['missing timestamp', { ...enrollment, at: 0 }]
  ])('rejects %s with BAD_REQUEST', (_name, input) => {
    expect(codeOf(() => parseEnrollment(input))).toBe('BAD_REQUEST');
  });
});

describe('relaySigningInput', () => {
  it('binds the route: the same body signs different bytes on different routes', () => {
    const body = new TextEncoder().encode('{"a":1}');
    const a = relaySigningInput('/api/relays/heartbeat', body);
    const b = relaySigningInput('/api/relays/enroll', body);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(new TextDecoder().decode(a)).toBe('kofn-relay-signature-v1\n/api/relays/heartbeat\n{"a":1}');
  });
});
