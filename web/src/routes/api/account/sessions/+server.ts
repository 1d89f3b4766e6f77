import { route } from '$lib/server/http';
import { endOtherSessions, listSessions } from '$lib/server/accounts';

export const GET = route('user', async ({ event, co, user }) => ({ sessions: await listSessions(co.database.db, user.id, event.locals.sessionToken) }));

/** "Sign out everywhere else". */
export const DELETE = route('user', async ({ event, co, user }) => ({ ended: await endOtherSessions(co.database.db, user.id, event.locals.sessionToken) }));
