import { body, route } from '$lib/server/http';
import { replaceRelay } from '$lib/server/reservations';

export const POST = route('user', async ({ event, ctx }) => replaceRelay(ctx, event.params.id, await body(event)));
