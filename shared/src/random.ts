/**
 * The only source of randomness in kofn. Production draws from crypto.getRandomValues, which throws
 * QuotaExceededError above 65,536 bytes a call (WebCrypto §10.1.1), so requests are cut into blocks.
 * Tests may install a seeded source to make known-answer vectors (useRandomSource and seededSource, reached
 * only through the `@kofn/shared/testing` entry point, never the main one); nothing else may call them.
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
