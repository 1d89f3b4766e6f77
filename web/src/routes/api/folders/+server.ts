import { body, route } from '$lib/server/http';
import { createFolder, listFolder } from '$lib/server/folders';

/** One page of a folder (`?parent=&cursor=&limit=&q=`): folders, then files, by name. */
export const GET = route('user', async ({ event, ctx }) => listFolder(ctx, event.url.searchParams));

/** Make a folder `{ name, parentId? }`, or every missing folder of `{ path, parentId? }`. */
export const POST = route('user', async ({ event, ctx }) => createFolder(ctx, await body(event)), 201);
