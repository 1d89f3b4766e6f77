import { error, redirect } from '@sveltejs/kit';
import { inArray } from 'drizzle-orm';
import type { PageServerLoad } from './$types';
import { coordinator } from '$lib/server/context';
import { countUsers, listUsers } from '$lib/server/auth';
import { listEnrollments, listRelays } from '$lib/server/relays';
import { listJobs, type JobRow } from '$lib/server/jobs';
import { files } from '$lib/server/db/schema';
import type { Db } from '$lib/server/db';
import { usage, usageBreakdown } from '$lib/server/usage';
import { healthCounts } from '$lib/server/health';
import { lifecycleViews } from '$lib/server/relay-lifecycle';
import { replacementViews } from '$lib/server/relay-replace';
import { mustSetUpSecondFactor, securityPolicy } from '$lib/server/second-factor';
import { previewLimit } from '$lib/server/preview-limit';

export const load: PageServerLoad = async ({ locals, url }) => {
  if (!locals.user) redirect(303, '/login');
  if (locals.user.role !== 'admin') error(403, { code: 'FORBIDDEN', message: 'Only administrators may see this page.' });
  const { database, config, license } = await coordinator();
  const db = database.db;
  // The administrators' policy: no admin page before a second factor (second-factor.ts).
  if (await mustSetUpSecondFactor(db, locals.user)) redirect(303, '/account?second-factor=required');
  return {
    csrfToken: locals.csrfToken ?? null,
    users: await listUsers(db),
    selfId: locals.user.id,
    relays: await listRelays(db, new Date(), config.relayOfflineAfterMs),
    enrollments: await listEnrollments(db),
    origin: url.origin,
    jobs: await jobViews(db, await listJobs(db, 50)),
    license,
    securityPolicy: await securityPolicy(db),
    previewLimit: (await previewLimit(db)).previewLimit,
    fileHealth: await healthCounts(db),
    lifecycle: await lifecycleViews(db),
    replacements: await replacementViews(db),
    used: { users: await countUsers(db), ...(await usage(db, license)) },
    breakdown: await usageBreakdown(db, new Date(), config.relayOfflineAfterMs)
  };
};

/** A file job's file id: every file job carries it in its payload (jobs.ts enqueue callers); others have none. */
function jobFileId(job: JobRow): string | null {
  const id = (job.payload as Record<string, unknown> | null)?.fileId;
  return typeof id === 'string' ? id : null;
}

/**
 * Jobs as the administrator reads them: a file job names its file, not an 8-digit hex id (issue #17 defect 11).
 * A file that is removed (or being removed, or gone from the table) reads "(removed file)"; other jobs have no file.
 */
async function jobViews(db: Db, rows: JobRow[]) {
  const ids = [...new Set(rows.map(jobFileId).filter((id): id is string => id !== null))];
  const named = ids.length === 0 ? [] : await db.select({ id: files.id, name: files.name, status: files.status }).from(files).where(inArray(files.id, ids));
  const names = new Map(named.filter((f) => f.status === 'available' || f.status === 'reserved').map((f) => [f.id, f.name]));
  return rows.map((j) => {
    const fileId = jobFileId(j);
    return {
      id: j.id,
      kind: j.kind,
      key: j.key,
      status: j.status,
      attempts: j.attempts,
      lastError: j.lastError,
      fileName: fileId === null ? null : (names.get(fileId) ?? '(removed file)')
    };
  });
}
