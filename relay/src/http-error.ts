/**
 * One table from error code to HTTP status; every error leaves the relay as `{ error: { code, message } }`.
 * Unknown errors become a generic 500 and are logged, never leaked.
 */
import { hasErrorCode, type ErrorCode, type ErrorBody } from '@kofn/shared';

const STATUS: Partial<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  INVALID_ARGUMENT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  INSUFFICIENT_STORAGE: 507,
  UNAVAILABLE: 503
};

export function toHttpError(err: unknown): { status: number; body: ErrorBody; known: boolean } {
  if (hasErrorCode(err)) {
    const status = STATUS[err.code] ?? 400;
    return { status, body: { error: { code: err.code, message: err.message } }, known: true };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'Internal relay error.' } }, known: false };
}
