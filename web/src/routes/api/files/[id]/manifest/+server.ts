import { route } from '$lib/server/http';
import { manifest } from '$lib/server/files';

export const GET = route('user', async ({ event, ctx }) => manifest(ctx, event.params.id));
