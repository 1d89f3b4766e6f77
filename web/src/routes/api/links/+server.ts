import { body, route } from '$lib/server/http';
import { createLink, listLinks } from '$lib/server/share-links';

/** The signed-in user's share links, optionally for one file (`?fileId=`). */
export const GET = route('user', async ({ event, ctx }) => ({ links: await listLinks(ctx, event.url.searchParams.get('fileId')) }));

/** `{ fileId, publicKey, passwordProtected, expiresAt, maxDownloads? }` */
export const POST = route('user', async ({ event, ctx }) => createLink(ctx, await body(event)), 201);
