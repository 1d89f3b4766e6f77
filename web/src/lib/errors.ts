/**
 * The one place that turns coordinator, relay and engine error codes into plain words for people.
 * Compares codes, never classes (errors arrive from workers and over HTTP). Cancelling is not an error.
 */
import type { ErrorCode } from '@kofn/shared';

const WORDS: Partial<Record<ErrorCode, string>> = {
  FILENAME_IN_USE: 'Filename is already in use.',
  INVALID_FILENAME: 'The file name is not allowed',
  THRESHOLD_TOO_LOW: 'The threshold must be at least 2.',
  THRESHOLD_TOO_HIGH: 'The threshold is greater than the number of servers.',
  RELAYS_OFFLINE: 'Some storage servers necessary for the operation are not connected',
  // Short: a toast shows about 110 characters of "Retrieving <name> failed: ..." before it cuts.
  OFFLINE: 'You are offline: this device has no network connection.',
  COORDINATOR_UNREACHABLE: 'The kofn server cannot be reached right now; try again in a moment.',
  FILE_TOO_BIG: 'File too big, empty or wrong field.',
  STORAGE_FULL: 'Storage limit reached: the licence allows no more protected data. Remove files or upgrade the licence.',
  LICENSE_LIMIT: 'The licence does not allow more of these.',
  NOT_FOUND: 'File not found on the servers.',
  UNAUTHORIZED: 'Please sign in again.',
  INVALID_CREDENTIALS: 'Wrong e-mail or password.',
  RATE_LIMITED: 'Too many failed sign-ins from this address',
  CSRF_FAILED: 'This request did not come from the kofn page; reload the page and try again.',
  FORBIDDEN: 'You are not allowed to do this.',
  COMMIT_MISMATCH: 'A storage server does not hold what was uploaded; the upload was not saved.',
  AUTH_FAILED: 'The data returned by the storage servers failed its integrity check; no part of the file was saved.',
  NOT_ENOUGH_SHARES: 'Not enough storage servers answered to rebuild the file.',
  STREAM_TRUNCATED: 'The file is incomplete on the storage servers; nothing was saved.',
  STREAM_OUT_OF_ORDER: 'The storage servers returned parts out of order; nothing was saved.',
  MIXED_EPOCH: 'The storage servers hold shares from different renewals; nothing was saved.',
  MIXED_FILE: 'A storage server returned parts of another file; nothing was saved.',
  BAD_SHARE_FORMAT: 'A storage server returned data in an unknown format.',
  METADATA_MISMATCH: 'The coordinator names this file differently from its authenticated record; nothing was saved.',
  TOKEN_EXPIRED: 'Access to a storage server expired; try again.',
  ACCESS_ENDED: 'You no longer have access to this file: it was removed or your access was revoked while it was being transferred. Nothing was saved.',
  VERIFICATION_STALE: 'The file changed while your browser checked its repaired share; it is checked again.',
  EPOCH_GONE: 'This file was renewed again and again while it was being retrieved, and the shares this retrieval read are no longer kept; retrieve it again. Nothing was saved.',
  TOKEN_OUT_OF_SCOPE: 'A storage server refused access to this file.',
  TOKEN_INVALID: 'A storage server refused the access token.',
  INSUFFICIENT_STORAGE: 'A storage server is full.',
  PAYLOAD_TOO_LARGE: 'This file is too large for this browser to save; use a browser that can write files to disk (Chromium).',
  WRONG_VALUE: 'A value was not accepted.',
  EMAIL_IN_USE: 'This e-mail address already has an account.',
  SETUP_DONE: 'kofn is already set up; sign in instead.'
};

export interface Shown {
  code: string;
  message: string;
}

/** Plain words for any error; undefined for a cancellation (not an error to show). */
export function handleError(err: unknown): Shown | undefined {
  const e = err as { name?: string; code?: string; message?: string } | null;
  if (e?.name === 'AbortError') return undefined;
  const code = e?.code ?? 'INTERNAL';
  const words = (WORDS as Readonly<Record<string, string | undefined>>)[code];
  // A server message that extends our words with details (a limit, a relay's name) is kept whole.
  if (words) return { code, message: e?.message?.startsWith(words) ? e.message : words };
  if (e?.message && code !== 'INTERNAL') return { code, message: e.message };
  return { code, message: 'Something went wrong. Please try again.' };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** Decimal units first: licences are written in them (1 GB, 1 TB; ARCHITECTURE.md "Licence"). */
const LIMIT_UNITS: ReadonlyArray<[number, string]> = [
  [1e15, 'PB'],
  [1e12, 'TB'],
  [1e9, 'GB'],
  [1e6, 'MB'],
  [2 ** 50, 'PiB'],
  [2 ** 40, 'TiB'],
  [2 ** 30, 'GiB'],
  [2 ** 20, 'MiB']
];

/**
 * A limit in the unit it was set in (issue #17 defect 10: a 1 TB licence read "931 GiB"): the largest
 * decimal or binary unit that divides it exactly, else the usual binary figure.
 */
export function formatLimit(n: number): string {
  for (const [size, unit] of LIMIT_UNITS) if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  return formatBytes(n);
}
