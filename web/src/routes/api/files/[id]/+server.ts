import { route } from '$lib/server/http';
import { removeFile } from '$lib/server/files';

export const DELETE = route('user', async ({ event, ctx }) => removeFile(ctx, event.params.id));
