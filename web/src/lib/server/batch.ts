/**
 * Batch requests (issue #14, "Many small files": 25-37 files/s one request at a time): the bounds on a
 * batch and the shape of one item's failure, shared by reservations.ts reserveFiles and files.ts
 * commitFiles. Routes: `POST /api/files/batch`, `POST /api/files/commit` (web/docs/api.md).
 */
import { KofnError, type BatchFailure } from '@kofn/shared';
import * as v from './validate.js';

/**
 * Most files one batch reserves or commits (issue #14, "Many small files"). 1,000 files at 3 relays is
 * 3,000 put tokens to sign and, at commit, 3,000 relay listings: seconds, well inside one request.
 */
export const MAX_BATCH_FILES = 1000;
/** Largest batch request body: 1,000 items with long names or many relays' roots fit; clients split above. */
export const MAX_BATCH_BODY = 1024 * 1024;

export function batchItems(input: Record<string, unknown>): Record<string, unknown>[] {
  const list = input.files;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BATCH_FILES || list.some((x) => typeof x !== 'object' || x === null || Array.isArray(x))) {
    throw v.wrongValue('files', `a list of 1..${MAX_BATCH_FILES} objects`);
  }
  return list as Record<string, unknown>[];
}

/** One item's outcome in a batch answer: the same codes and messages as the single-file route. */
export function failed(err: unknown): BatchFailure {
  if (err instanceof KofnError) return { ok: false, error: { code: err.code, message: err.message } };
  throw err;
}
