/**
 * Batch requests (issue #14, "Many small files": 25-37 files/s one request at a time): the bounds on a
 * batch and the shape of one item's failure, shared by reservations.ts reserveFiles and files.ts
 * commitFiles. Routes: `POST /api/files/batch`, `POST /api/files/commit` (web/docs/api.md).
 */
import { KofnError, MAX_BATCH_FILES, type BatchFailure } from '@kofn/shared';
import * as v from './validate.js';

/**
 * Bounds of one batch, shared with the clients (shared/src/protocol/protect-many.ts splits by them):
 * 1,000 files at 3 relays is 3,000 put tokens to sign and, at commit, 3,000 relay listings; 1 MiB holds
 * 1,000 items with long names or many relays' roots.
 */
export { MAX_BATCH_BODY, MAX_BATCH_FILES } from '@kofn/shared';

export function batchItems(input: Record<string, unknown>): Array<Record<string, unknown>> {
  const list = input.files;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BATCH_FILES || list.some((x) => typeof x !== 'object' || x === null || Array.isArray(x))) {
    throw v.wrongValue('files', `a list of 1..${MAX_BATCH_FILES} objects`);
  }
  return list as Array<Record<string, unknown>>;
}

/** One item's outcome in a batch answer: the same codes and messages as the single-file route. */
export function failed(err: unknown): BatchFailure {
  if (err instanceof KofnError) return { ok: false, error: { code: err.code, message: err.message } };
  throw err;
}
