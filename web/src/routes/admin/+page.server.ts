import { error, redirect } from '@sveltejs/kit';
import type { PageServerLoad } from './$types';
import { coordinator } from '$lib/server/context';
import { countUsers, listUsers } from '$lib/server/auth';
import { listEnrollments, listRelays } from '$lib/server/relays';
import { listJobs } from '$lib/server/jobs';
import { usage } from '$lib/server/usage';
import { healthCounts } from '$lib/server/health';
import { lifecycleViews } from '$lib/server/relay-lifecycle';
import { mustSetUpSecondFactor, securityPolicy } from '$lib/server/second-factor';

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
    jobs: (await listJobs(db, 50)).map((j) => ({ id: j.id, kind: j.kind, key: j.key, status: j.status, attempts: j.attempts, lastError: j.lastError })),
    license,
    securityPolicy: await securityPolicy(db),
    fileHealth: await healthCounts(db),
    lifecycle: await lifecycleViews(db),
    used: { users: await countUsers(db), ...(await usage(db, license)) }
  };
};
