import { route } from '$lib/server/http';
import { emptyTrash, listTrash } from '$lib/server/trash';

/** What the user trashed, newest first (`?cursor=&limit=`). */
export const GET = route('user', async ({ event, ctx }) => listTrash(ctx, event.url.searchParams));

/** Empty the trash: its files' shares are deleted by durable jobs. */
export const DELETE = route('user', async ({ ctx }) => emptyTrash(ctx));
