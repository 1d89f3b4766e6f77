import { route } from '$lib/server/http';
import { renewNow } from '$lib/server/renewal';

/** "Renew now" for one file, by its owner (#15). */
export const POST = route('user', async ({ event, ctx }) => renewNow(ctx, event.params.id));
