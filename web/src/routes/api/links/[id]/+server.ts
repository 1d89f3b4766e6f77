import { body, route } from '$lib/server/http';
import { editLink, revokeLink } from '$lib/server/share-links';

/** `{ expiresAt?, maxDownloads? }` */
export const PATCH = route('user', async ({ event, ctx }) => editLink(ctx, event.params.id, await body(event)));

export const DELETE = route('user', async ({ event, ctx }) => revokeLink(ctx, event.params.id));
