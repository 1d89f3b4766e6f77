/**
 * The only source of randomness in kofn. Production draws from crypto.getRandomValues, which throws
 * QuotaExceededError above 65,536 bytes a call (WebCrypto §10.1.1), so requests are cut into blocks.
 * Tests may install a seeded source to make known-answer vectors (useRandomSource and seededSource, reached
 * only through the `@kofn/shared/testing` entry point, never the main one); nothing else may call them.
 */
import { KofnError } from './errors.js';
import { toHex } from './hex.js';

export interface RandomSource {
  /** Fills `out` entirely with random bytes. */
  fill(out: Uint8Array<ArrayBuffer>): void;
}

/** WebCrypto's per-call limit. */
export const GET_RANDOM_VALUES_MAX = 65_536;

export const cryptoRandom: RandomSource = {
  fill(out: Uint8Array<ArrayBuffer>): void {
    // Typed as always present, but absent in old runtimes and some embedded contexts: checked, not trusted.
    const c = globalThis.crypto as Crypto | undefined;
    if (!c || typeof c.getRandomValues !== 'function') {
      throw new KofnError('RANDOM_UNAVAILABLE', 'crypto.getRandomValues is not available in this environment.');
    }
    for (let off = 0; off < out.length; off += GET_RANDOM_VALUES_MAX) {
      c.getRandomValues(out.subarray(off, Math.min(out.length, off + GET_RANDOM_VALUES_MAX)));
    }
  }
};

let current: RandomSource = cryptoRandom;

export function randomFill(out: Uint8Array<ArrayBuffer>): void {
  current.fill(out);
}

export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  current.fill(out);
  return out;
}

/**
 * A uniform integer in [0, n), n <= 2^32, by rejection sampling (no modulo bias: values at or above the
 * largest multiple of n below 2^32 are drawn again).
 */
export function randomBelow(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError('randomBelow needs an integer n in 1..2^32.');
  const limit = 2 ** 32 - (2 ** 32 % n);
  for (;;) {
    const b = randomBytes(4);
    const v = ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!;
    if (v < limit) return v % n;
  }
}

/** Random bytes as lower-case hex: handles, tags and file names that need no more than uniqueness. */
export function randomHex(bytes: number): string {
  return toHex(randomBytes(bytes));
}

/** Random bytes as unpadded base64url (RFC 4648 §5): session, CSRF and one-time tokens. */
export function randomBase64url(bytes: number): string {
  let bin = '';
  for (const b of randomBytes(bytes)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A version-4 UUID (RFC 9562 §5.4) drawn from this module, so row ids too come from the one source. */
export function randomUuid(): string {
  const b = randomBytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * For tests only (exported through `@kofn/shared/testing`): replaces the source until the returned function is called. Returns the restorer so a
 * test cannot forget which source was active before.
 */
export function useRandomSource(source: RandomSource): () => void {
  const previous = current;
  current = source;
  return () => {
    current = previous;
  };
}
