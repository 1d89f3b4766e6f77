import { body, route } from '$lib/server/http';
import { updateFile } from '$lib/server/folders';
import { trashFile } from '$lib/server/trash';

/** Rename and/or move a file: `{ name?, folderId? }` (issue #18). */
export const PATCH = route('user', async ({ event, ctx }) => updateFile(ctx, event.params.id, await body(event)));

/** Remove: an available file goes to the trash; an upload never committed is deleted at once. */
export const DELETE = route('user', async ({ event, ctx }) => trashFile(ctx, event.params.id));
