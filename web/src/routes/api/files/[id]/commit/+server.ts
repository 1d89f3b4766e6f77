import { body, route } from '$lib/server/http';
import { commitFile } from '$lib/server/files';

/** Verifies with every relay that every chunk is stored as uploaded, then makes the file available. */
export const POST = route('user', async ({ event, ctx }) => commitFile(ctx, event.params.id, await body(event)));
