import { route } from '$lib/server/http';
import { checkFileFor, fileHealthForUser } from '$lib/server/health-api';

/** The file's health from the last check, per relay (owner or grantee). */
export const GET = route('user', async ({ event, ctx }) => fileHealthForUser(ctx, event.params.id));

/** Check the file's shares now (owner only), as the periodic check does. */
export const POST = route('user', async ({ event, ctx }) => checkFileFor(ctx, event.params.id));
