import { body, route } from '$lib/server/http';
import { bindUserLink, listUserLinks } from '$lib/server/federation';

/** The browsers of other deployments linked to the signed-in account here. */
export const GET = route('user', async ({ co, user }) => ({ userLinks: await listUserLinks(co.database.db, user.id) }));

/** Binds a browser key to the signed-in account: `{ link, origin, publicKey }` (from this deployment's own link page). */
export const POST = route('user', async ({ event, co, user }) => bindUserLink(co.database.db, user, await body(event, 4096)), 201);
