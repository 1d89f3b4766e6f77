import { body, route } from '$lib/server/http';
import { MAX_BATCH_BODY } from '$lib/server/batch';
import { bulkAction } from '$lib/server/bulk-actions';

/** Move, trash or share up to 1,000 files (and folders) at once: `{ action, files?, folders?, to?, emails? }`, one result each. */
export const POST = route('user', async ({ event, ctx }) => bulkAction(ctx, await body(event, MAX_BATCH_BODY)));
