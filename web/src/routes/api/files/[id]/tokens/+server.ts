import { body, route } from '$lib/server/http';
import { freshTokens } from '$lib/server/capabilities';

export const POST = route('user', async ({ event, ctx }) => freshTokens(ctx, event.params.id, (await body(event)).op));
