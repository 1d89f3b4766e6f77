/**
 * The only source of randomness in kofn. Production draws from crypto.getRandomValues, which throws
 * QuotaExceededError above 65,536 bytes a call (WebCrypto §10.1.1), so requests are cut into blocks.
 * Tests may install a seeded source to make known-answer vectors; nothing else may call it.
 */
import { KofnError } from './errors.js';

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

export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  current.fill(out);
  return out;
}

/**
 * For tests only: replaces the source until the returned function is called. Returns the restorer so a
 * test cannot forget which source was active before.
 */
export function useRandomSource(source: RandomSource): () => void {
  const previous = current;
  current = source;
  return () => {
    current = previous;
  };
}

/**
 * A deterministic, NOT cryptographic, source for known-answer vectors: xoshiro128** (Blackman & Vigna,
 * 2018) seeded through splitmix32. Documented in test/vectors/README.md so others can reproduce vectors.
 */
export function seededSource(seed: number): RandomSource {
  let z = seed >>> 0;
  const splitmix = (): number => {
    z = (z + 0x9e3779b9) >>> 0;
    let r = z;
    r = Math.imul(r ^ (r >>> 16), 0x85ebca6b) >>> 0;
    r = Math.imul(r ^ (r >>> 13), 0xc2b2ae35) >>> 0;
    return (r ^ (r >>> 16)) >>> 0;
  };
  const s = [splitmix(), splitmix(), splitmix(), splitmix()] as [number, number, number, number];
  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };
  return {
    fill(out: Uint8Array<ArrayBuffer>): void {
      for (let i = 0; i < out.length; i += 4) {
        const r = next();
        out[i] = r & 0xff;
        if (i + 1 < out.length) out[i + 1] = (r >>> 8) & 0xff;
        if (i + 2 < out.length) out[i + 2] = (r >>> 16) & 0xff;
        if (i + 3 < out.length) out[i + 3] = r >>> 24;
      }
    }
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
