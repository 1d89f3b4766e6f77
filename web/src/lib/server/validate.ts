/** Input checks at the coordinator's public boundary, with Qasmat's messages where they apply. */
import { KofnError, isFileId } from '@kofn/shared';

export function wrongValue(field: string, valid: string): KofnError {
  return new KofnError('WRONG_VALUE', `Wrong value supplied for field "${field}". Valid values are ${valid}.`);
}

export function object(input: unknown): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new KofnError('BAD_REQUEST', 'Expected a JSON object.');
  return input as Record<string, unknown>;
}

const EMAIL = /^[^\s@\p{Cc}]{1,64}@[^\s@\p{Cc}]{1,255}$/u;

export function email(v: unknown, field = 'email'): string {
  if (typeof v !== 'string' || v.length > 254 || !EMAIL.test(v)) throw wrongValue(field, 'an e-mail address');
  return v.trim().toLowerCase();
}

export function text(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string' || v.trim().length === 0 || v.length > max || /[\p{Cc}\p{Cf}]/u.test(v)) {
    throw wrongValue(field, `1..${max} printable characters`);
  }
  return v.trim();
}

export function password(v: unknown): string {
  if (typeof v !== 'string' || v.length < 10 || v.length > 1024) throw wrongValue('password', 'a password of 10 to 1024 characters');
  return v;
}

/** File names: shown in the UI and rebuilt on disk, so no control or separator characters. */
export function fileName(v: unknown, what = 'file name'): string {
  // Issue #17 defect 3: each refusal names its real reason (a long name used to read "Invalid character").
  if (typeof v !== 'string' || v.length === 0) throw new KofnError('INVALID_FILENAME', `The ${what} is not allowed: it is empty.`);
  if (v.length > 255) throw new KofnError('INVALID_FILENAME', `The ${what} is not allowed: it is ${v.length} characters long; at most 255 are allowed.`);
  if (/[\p{Cc}\p{Cf}/\\]/u.test(v) || v === '.' || v === '..' || v.trim() !== v) {
    throw new KofnError('INVALID_FILENAME', `The ${what} is not allowed: it contains a control character, a slash or a backslash, is "." or "..", or starts or ends with a space.`);
  }
  return v;
}

/** Folder names: the same rules as file names (a folder is rebuilt on disk and in ZIPs too). */
export function folderName(v: unknown): string {
  return fileName(v, 'folder name');
}

export function fileId(v: unknown): string {
  if (!isFileId(v)) throw new KofnError('NOT_FOUND', 'File not found on the servers.');
  return v;
}

export function integer(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw wrongValue(field, `integers ${min}..${max}`);
  return v;
}
