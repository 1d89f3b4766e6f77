/**
 * Lower-case hex, written once (issue #14): file ids (ids.ts), random handles (random.ts), digests. One
 * spelling, so ids compare as plain strings wherever they are stored.
 */
import { KofnError } from './errors.js';

const HEX_DIGITS = '0123456789abcdef';

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 15]!;
  return s;
}

/** Bytes of lower-case hex; anything else (odd length, upper case, other characters) is INVALID_ARGUMENT. */
export function fromHex(hex: string): Uint8Array {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-f]*$/.test(hex)) {
    throw new KofnError('INVALID_ARGUMENT', '"hex" expected an even number of lowercase hex digits');
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
