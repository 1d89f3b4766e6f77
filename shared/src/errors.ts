/**
 * Errors shared by the browser, workers, relays and the coordinator.
 *
 * Every error has a stable `code`. Code compares codes, never `instanceof` or message text, because
 * errors cross worker boundaries (structured clone keeps own enumerable properties but not the class)
 * and HTTP boundaries (`{ error: { code, message } }`).
 */
export const ERROR_CODES = [
  // engine (shamir / gf256 / format)
  'INVALID_THRESHOLD',
  'INVALID_SHARE_COUNT',
  'INVALID_X',
  'DUPLICATE_X',
  'SHARE_LENGTH_MISMATCH',
  'NOT_ENOUGH_SHARES',
  'INVALID_ARGUMENT',
  'BAD_SHARE_FORMAT',
  'AUTH_FAILED',
  'STREAM_TRUNCATED',
  'STREAM_OUT_OF_ORDER',
  'MIXED_EPOCH',
  'MIXED_FILE',
  'RANDOM_UNAVAILABLE',
  // capability tokens (relay)
  'TOKEN_MISSING',
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'TOKEN_NOT_YET_VALID',
  'TOKEN_WRONG_AUDIENCE',
  'TOKEN_OUT_OF_SCOPE',
  // coordinator (messages follow Qasmat's where they apply)
  'FILENAME_IN_USE',
  'INVALID_FILENAME',
  'THRESHOLD_TOO_LOW',
  'THRESHOLD_TOO_HIGH',
  'RELAYS_OFFLINE',
  'WRONG_VALUE',
  'FILE_TOO_BIG',
  'STORAGE_FULL',
  'LICENSE_LIMIT',
  'LICENSE_INVALID',
  'CSRF_FAILED',
  'RATE_LIMITED',
  'SETUP_DONE',
  'INVALID_CREDENTIALS',
  'COMMIT_MISMATCH',
  'EMAIL_IN_USE',
  // relay identity (enrollment and signed heartbeats)
  'ENROLLMENT_INVALID',
  'ENROLLMENT_REQUIRED',
  'RELAY_SIGNATURE_INVALID',
  'RELAY_URL_IN_USE',
  // relay transport (shared/src/protocol/relay-client.ts; issue #13 items 3, 4, 6): details name the relay
  'RELAY_TIMEOUT',
  'RELAY_ANSWER_TOO_LARGE',
  'RELAY_BAD_ANSWER',
  // a retrieved file's authenticated metadata record disagrees with what the coordinator says (#13 item 12)
  'METADATA_MISMATCH',
  // the coordinator refused fresh tokens during a transfer: the file was removed, the user's read access
  // revoked, or the user signed out (issue #17 defect 2); not a relay's fault, so no relay is replaced
  'ACCESS_ENDED',
  // proactive renewal (#15, shared/docs/renewal.md): a dealer's contribution is missing or does not fit the
  // receiver's share (details name the dealer in the message), or the coordinator's parity check failed
  'RENEWAL_INCOMPLETE',
  'RENEWAL_BAD_CONTRIBUTION',
  'RENEWAL_CHECK_FAILED',
  // a download's file was renewed meanwhile and the relays no longer keep the epoch it reads
  // (web/src/lib/server/read-epoch.ts): the transfer ends, no relay is blamed, never a mix of epochs
  'EPOCH_GONE',
  // command-line client (shared/src/cli; issue #20)
  'CLI_USAGE',
  'NOT_SIGNED_IN',
  'FILE_UNREADABLE',
  'UNKNOWN_SERVER',
  'COORDINATOR_UNREACHABLE',
  // The browser's own: the device has no network connection at all (navigator.onLine), nothing was sent.
  'OFFLINE',
  'CANCELLED',
  // the reader of standard output went away before the end (`kofn retrieve x -o - | head`): EPIPE
  'OUTPUT_CLOSED',
  // share links (issue #19): LINK_INVALID answers unknown ids and wrong proofs alike; the others only
  // after a valid proof, so they tell nothing to someone without the link's secret
  'LINK_INVALID',
  'LINK_EXPIRED',
  'LINK_REVOKED',
  'LINK_EXHAUSTED',
  'LINK_REPLAYED',
  // accounts (issue #19): password rules, the last administrator
  'WEAK_PASSWORD',
  'PASSWORD_CHANGE_REQUIRED',
  'LAST_ADMIN',
  'PASSKEY_INVALID',
  'PASSKEY_REFUSED',
  // second factor (issue #19): a wrong or reused code, a sign-in whose second step expired, the admin policy
  'SECOND_FACTOR_INVALID',
  'SECOND_FACTOR_REPLAYED',
  'SECOND_FACTOR_EXPIRED',
  'SECOND_FACTOR_REQUIRED',
  // an API token without the scope a route needs (issue #19; web token-scopes.ts)
  'TOKEN_SCOPE',
  // rotating the coordinator's secret key (web secret-key-rotation.ts): a sealed secret opens under neither key
  'SECRET_KEY_MISMATCH',
  // folders (issue #18; web folders.ts): a move into the folder itself or below it, nesting past the limit
  'FOLDER_CYCLE',
  'FOLDER_TOO_DEEP',
  // multi-level layouts (issue #21; shared/src/layout.ts, docs/multilevel.md): a malformed layout, a relay
  // placed twice, a group without relays, a group threshold outside 2..n_g, a top threshold outside 2..G,
  // a relay the coordinator does not know (or cannot use), a group kind this deployment cannot serve, a
  // remote group on a deployment that is not linked here
  'LAYOUT_INVALID',
  'LAYOUT_RELAY_TWICE',
  'LAYOUT_EMPTY_GROUP',
  'LAYOUT_GROUP_THRESHOLD',
  'LAYOUT_TOP_THRESHOLD',
  'LAYOUT_UNKNOWN_RELAY',
  'LAYOUT_NOT_SUPPORTED',
  'LAYOUT_UNKNOWN_DEPLOYMENT',
  'LAYOUT_ONE_DEPLOYMENT',
  // federation (issue #21 part 2; shared/docs/federation.md): a link token or signed request that is not
  // valid (unknown, malformed, bad signature), a revoked or expired link, a request from another origin,
  // a replayed nonce; and, at the home deployment, a remote deployment that did not answer or answered badly
  'FEDERATION_INVALID',
  'FEDERATION_REVOKED',
  'FEDERATION_EXPIRED',
  'FEDERATION_ORIGIN',
  'FEDERATION_REPLAYED',
  'FEDERATION_REMOTE_UNREACHABLE',
  'FEDERATION_REMOTE_BAD_ANSWER',
  'FEDERATION_REMOTE_REFUSED',
  // the owner's report on a repaired share (web repair-verification.ts) names an epoch the file is no longer
  // at, or a share that no longer awaits that report (moved, repaired again, or reported otherwise)
  'VERIFICATION_STALE',
  // http boundaries
  'BAD_REQUEST',
  'LENGTH_REQUIRED',
  'HEADERS_TOO_LARGE',
  'RANGE_NOT_SUPPORTED',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'INSUFFICIENT_STORAGE',
  'UNAVAILABLE',
  'INTERNAL'
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/**
 * What an error is about, for code (never parsed from the message): the relay that failed, the HTTP status
 * it answered, how long it asked to wait. Plain data, so it survives structured clone and JSON.
 */
export interface ErrorDetails {
  relayId?: string;
  relayName?: string;
  /** HTTP status of the relay's answer; 0 when there was none (network error, timeout). */
  status?: number;
  /** The relay's Retry-After, in ms, when it sent one. */
  retryAfterMs?: number;
}

export class KofnError extends Error {
  override readonly name = 'KofnError';
  readonly code: ErrorCode;
  readonly details: ErrorDetails;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: ErrorDetails }) {
    super(message, options);
    this.code = code;
    this.details = options?.details ?? {};
  }
  toJSON(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

const known = new Set<string>(ERROR_CODES);

/** True when `value` carries one of our stable codes (works on cloned errors from workers). */
export function hasErrorCode(value: unknown, code?: ErrorCode): value is { code: ErrorCode; message: string } {
  if (typeof value !== 'object' || value === null) return false;
  const c = (value as { code?: unknown }).code;
  return typeof c === 'string' && known.has(c) && (code === undefined || c === code);
}
