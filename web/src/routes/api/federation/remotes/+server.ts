import { body, route } from '$lib/server/http';
import { listRemotes, registerRemote } from '$lib/server/federation';
import { secretKey } from '$lib/server/secret-key';

/** Deployments linked here, with their relays and state (no secrets): users choose remote groups from these. */
export const GET = route('user', async ({ co }) => ({ remotes: await listRemotes(co.database.db) }));

/** Links another deployment: `{ url, token }` (the link token its administrators issued for this deployment). */
export const POST = route('admin', async ({ event, co }) => registerRemote(co.database.db, await secretKey(), await body(event, 4096)), 201);
