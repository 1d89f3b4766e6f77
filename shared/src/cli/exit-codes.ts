/** The exit codes of `kofn`, documented in help.ts (EXIT_CODES_TEXT); chosen by error code, never by message. */
import type { ErrorCode } from '../errors.js';

export const EXIT = { ok: 0, failed: 1, input: 2, auth: 3, network: 4, cancelled: 130 } as const;

const INPUT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CLI_USAGE',
  'FILE_UNREADABLE',
  'UNKNOWN_SERVER',
  'INVALID_THRESHOLD',
  'THRESHOLD_TOO_HIGH',
  'THRESHOLD_TOO_LOW',
  'INVALID_FILENAME',
  'FILENAME_IN_USE',
  'FILE_TOO_BIG',
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'WRONG_VALUE',
  // kofn protect --layout (issue #21): a layout the person typed that cannot be served as it is
  'LAYOUT_INVALID',
  'LAYOUT_RELAY_TWICE',
  'LAYOUT_EMPTY_GROUP',
  'LAYOUT_GROUP_THRESHOLD',
  'LAYOUT_TOP_THRESHOLD',
  'LAYOUT_UNKNOWN_RELAY',
  'LAYOUT_NOT_SUPPORTED',
  'LAYOUT_ONE_DEPLOYMENT'
]);
const AUTH: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['NOT_SIGNED_IN', 'INVALID_CREDENTIALS', 'UNAUTHORIZED', 'CSRF_FAILED']);
const NETWORK: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['COORDINATOR_UNREACHABLE', 'RELAYS_OFFLINE', 'RELAY_TIMEOUT']);

export function exitCodeFor(code: ErrorCode): number {
  if (code === 'CANCELLED') return EXIT.cancelled;
  if (INPUT.has(code)) return EXIT.input;
  if (AUTH.has(code)) return EXIT.auth;
  if (NETWORK.has(code)) return EXIT.network;
  return EXIT.failed;
}
