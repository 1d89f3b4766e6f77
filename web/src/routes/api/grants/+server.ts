import { body, route } from '$lib/server/http';
import { changeGrants } from '$lib/server/grants';

/** `{ action: "add_read" | "revoke_read", emails: [...], fileIds: [...] }` */
export const POST = route('user', async ({ event, ctx }) => changeGrants(ctx, await body(event)));
