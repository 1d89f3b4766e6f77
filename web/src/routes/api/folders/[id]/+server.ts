import { body, route } from '$lib/server/http';
import { updateFolder } from '$lib/server/folders';
import { trashFolder } from '$lib/server/trash';

/** Rename and/or move a folder: `{ name?, parentId? }`. */
export const PATCH = route('user', async ({ event, ctx }) => updateFolder(ctx, event.params.id, await body(event)));

/** Move a folder and everything in it to the trash. */
export const DELETE = route('user', async ({ event, ctx }) => trashFolder(ctx, event.params.id));
