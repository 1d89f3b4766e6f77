import { body, route } from '$lib/server/http';
import { MAX_BATCH_BODY } from '$lib/server/batch';
import { restore } from '$lib/server/trash';

/** Restore trashed items `{ files?, folders? }` where they were (or to the root), one result each. */
export const POST = route('user', async ({ event, ctx }) => restore(ctx, await body(event, MAX_BATCH_BODY)));
