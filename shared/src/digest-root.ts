/**
 * One digest per relay per file: SHA-256 over the SHA-256 digests (32 bytes each, in chunk index order) of
 * the share chunks that relay stored. The browser computes it from the digests relays return on PUT; the
 * coordinator recomputes it from each relay's listing before it marks a file available.
 */
import { KofnError } from './errors.js';
import { fromHex, toHex } from './ids.js';

export async function digestRoot(digests: readonly string[]): Promise<string> {
  const bytes = new Uint8Array(digests.length * 32);
  digests.forEach((d, i) => {
    if (!/^[0-9a-f]{64}$/.test(d)) throw new KofnError('INVALID_ARGUMENT', 'Chunk digests must be 64 lowercase hex digits.');
    bytes.set(fromHex(d), i * 32);
  });
  const out = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes));
  return toHex(out);
}
