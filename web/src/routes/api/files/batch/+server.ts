import { body, route } from '$lib/server/http';
import { MAX_BATCH_BODY } from '$lib/server/batch';
import { reserveFiles } from '$lib/server/reservations';

/** Reserve up to 1,000 files at once: one result per file, the licence's storage counted over the batch. */
export const POST = route('user', async ({ event, ctx }) => reserveFiles(ctx, await body(event, MAX_BATCH_BODY)), 201);
