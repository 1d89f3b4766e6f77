import { body, route } from '$lib/server/http';
import { MAX_BATCH_BODY } from '$lib/server/batch';
import { commitFiles } from '$lib/server/files';

/** Commit up to 1,000 files at once, each verified with every relay as `POST /api/files/:id/commit` does. */
export const POST = route('user', async ({ event, ctx }) => commitFiles(ctx, await body(event, MAX_BATCH_BODY)));
