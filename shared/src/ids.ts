/**
 * File ids and hex, written once for the browser, the relays, the coordinator and the CLI.
 *
 * A file id is 16 random bytes (docs/format.md, share header), written everywhere else (URLs, tokens,
 * disk layout, S3 keys, the database) as 32 lower-case hex digits: one spelling per id, so a relay's
 * path, a token's `fid` and a stored header compare as plain strings.
 */
import { FILE_ID_BYTES } from './chunk-format.js';
import { KofnError } from './errors.js';
import { randomBytes } from './random.js';
import { fromHex, toHex } from './hex.js';

export { fromHex, toHex } from './hex.js';

/** The hex spelling of a file id, for composing longer patterns (URL paths, storage keys). */
export const FILE_ID_HEX = '[0-9a-f]{32}';
export const FILE_ID_PATTERN = new RegExp(`^${FILE_ID_HEX}$`);

export function isFileId(v: unknown): v is string {
  return typeof v === 'string' && FILE_ID_PATTERN.test(v);
}

/** A fresh file id, from the project's random module. */
export function newFileId(): string {
  return toHex(randomBytes(FILE_ID_BYTES));
}

export function fileIdToHex(id: Uint8Array): string {
  return toHex(id);
}

export function fileIdFromHex(hex: string): Uint8Array {
  if (!isFileId(hex)) throw new KofnError('INVALID_ARGUMENT', '"fileId" expected 32 lowercase hex digits');
  return fromHex(hex);
}
