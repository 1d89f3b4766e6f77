/**
 * What the job queue's suites (jobs-edges.test.ts, jobs-mutants.test.ts) read and arrange in a database they
 * share between tests: one job by key, and only some jobs due.
 */
import { eq } from 'drizzle-orm';
import type { Db } from '../db/index.js';
import { jobs } from '../db/schema.js';

export function jobRows(db: () => Db) {
  return {
    /** The job with key `key`. */
    row: async (key: string) => (await db().select().from(jobs).where(eq(jobs.key, key)))[0]!,
    /** Leaves only jobs whose key starts with `prefix` due, by pushing every other job far ahead. */
    only: async (prefix: string) => {
      const later = new Date('2100-01-01T00:00:00Z');
      for (const j of await db().select().from(jobs)) if (!j.key.startsWith(prefix)) await db().update(jobs).set({ runAfter: later, status: 'pending' }).where(eq(jobs.id, j.id));
    }
  };
}
