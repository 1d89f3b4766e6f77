/**
 * The `renew-replace` jobs (renewal-replace.ts: replace relay R by relay S at a fresh x during the next
 * renewal) as other modules see them: their kind, and how many are still to run for a relay. Its own module
 * so that the relay lifecycle (drain, mark lost), which renewal-replace.ts itself builds on, can ask too.
 */
import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from './db/index.js';
import { jobs } from './db/schema.js';

export const REPLACE_JOB = 'renew-replace';

/** Replacement jobs of relay `from` (keyed `${fileId}:${from}`) that are pending or running. */
export async function pendingReplacements(db: Db, from: string): Promise<number> {
  const rows = await db
    .select({ key: jobs.key })
    .from(jobs)
    .where(and(eq(jobs.kind, REPLACE_JOB), inArray(jobs.status, ['pending', 'running'])));
  // Compared in code, not by LIKE: `_` in a relay id would be a LIKE wildcard.
  return rows.filter((r) => r.key.endsWith(`:${from}`)).length;
}
