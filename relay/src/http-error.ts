/**
 * One table from error code to HTTP status; every error leaves the relay as `{ error: { code, message } }`.
 * Unknown errors become a generic 500 and are logged, never leaked.
 */
import { hasErrorCode, type ErrorCode, type ErrorBody } from '@kofn/shared';

const STATUS: Partial<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  INVALID_ARGUMENT: 400,
  BAD_SHARE_FORMAT: 400,
  UNAUTHORIZED: 401,
  TOKEN_MISSING: 401,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_NOT_YET_VALID: 401,
  TOKEN_WRONG_AUDIENCE: 403,
  TOKEN_OUT_OF_SCOPE: 403,
  LENGTH_REQUIRED: 411,
  HEADERS_TOO_LARGE: 431,
  RANGE_NOT_SUPPORTED: 416,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  RENEWAL_INCOMPLETE: 409,
  RENEWAL_BAD_CONTRIBUTION: 409,
  // A dealer's PUT to another relay failed (renewal.ts "deal"): 424 Failed Dependency (RFC 4918 §11.4),
  // not a 5xx, so the coordinator's client does not replay a deal whose sub-shares are half delivered.
  RELAYS_OFFLINE: 424,
  RELAY_TIMEOUT: 424,
  RELAY_ANSWER_TOO_LARGE: 424,
  RELAY_BAD_ANSWER: 424,
  PAYLOAD_TOO_LARGE: 413,
  INSUFFICIENT_STORAGE: 507,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503
};

export function toHttpError(err: unknown): { status: number; body: ErrorBody; known: boolean } {
  const sys = (err as NodeJS.ErrnoException | undefined)?.code;
  if (sys === 'ENOSPC' || sys === 'EDQUOT') {
    return { status: 507, body: { error: { code: 'INSUFFICIENT_STORAGE', message: 'The storage server is full.' } }, known: true };
  }
  if (hasErrorCode(err)) {
    const status = STATUS[err.code] ?? 400;
    return { status, body: { error: { code: err.code, message: err.message } }, known: true };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'Internal relay error.' } }, known: false };
}
