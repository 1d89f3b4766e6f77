import { route } from '$lib/server/http';

/** The signed-in user and the CSRF token the page must send with state-changing requests. */
export const GET = route('user', async ({ event, user }) => ({ user, csrfToken: event.locals.csrfToken ?? null }));
