import { body, route } from '$lib/server/http';
import { previewLimit, setPreviewLimit } from '$lib/server/preview-limit';

/** The largest file previewed in the browser, bytes: `{ previewLimit }`. Anyone signed in reads it; administrators set it. */
export const GET = route('user', async ({ co }) => previewLimit(co.database.db));

export const POST = route('admin', async ({ event, co, user }) => setPreviewLimit(co.database.db, user, await body(event, 1024)));
