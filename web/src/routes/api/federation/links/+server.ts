import { body, route } from '$lib/server/http';
import { issueLink, listLinks } from '$lib/server/federation';

/** Federation links this deployment issued to other deployments (never their secrets). */
export const GET = route('admin', async ({ co }) => ({ links: await listLinks(co.database.db) }));

/** Issues a link token: `{ name, origin, expiresInDays | null }`; the answer holds the secret, shown this once. */
export const POST = route('admin', async ({ event, co, user }) => issueLink(co.database.db, user, await body(event, 4096)), 201);
