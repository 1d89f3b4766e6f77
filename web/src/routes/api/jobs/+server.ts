import { route } from '$lib/server/http';
import { listJobs } from '$lib/server/jobs';

export const GET = route('admin', async ({ co }) => ({
  jobs: (await listJobs(co.database.db)).map((j) => ({
    id: j.id,
    kind: j.kind,
    key: j.key,
    status: j.status,
    attempts: j.attempts,
    runAfter: j.runAfter.toISOString(),
    lastError: j.lastError,
    updatedAt: j.updatedAt.toISOString()
  }))
}));
