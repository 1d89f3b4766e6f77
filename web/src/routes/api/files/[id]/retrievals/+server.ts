import { body, route } from '$lib/server/http';
import { reportRetrieval } from '$lib/server/files';

export const POST = route('user', async ({ event, ctx }) => reportRetrieval(ctx, event.params.id, await body(event)), 201);
