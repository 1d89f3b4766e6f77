import { route } from '$lib/server/http';
import { healthCounts } from '$lib/server/health';

/** Administrators: how many files are healthy, degraded, at risk, unrecoverable, or not yet checked. */
export const GET = route('admin', async ({ ctx }) => ({ counts: await healthCounts(ctx.db) }));
