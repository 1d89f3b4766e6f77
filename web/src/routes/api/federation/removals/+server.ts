import { body, route } from '$lib/server/http';
import { clearRemoval, listRemovals } from '$lib/server/federation-removals';

/** The signed-in user's sub-files still to remove at other deployments (their browser does it, linked there). */
export const GET = route('user', async ({ ctx }) => listRemovals(ctx));

/** `{ deployment, fileId }`: removed at that deployment by the browser; the record goes. */
export const POST = route('user', async ({ event, ctx }) => clearRemoval(ctx, await body(event, 1024)));
