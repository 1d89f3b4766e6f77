import { body, route } from '$lib/server/http';
import { securityPolicy, setSecurityPolicy } from '$lib/server/second-factor';

/** The administrators' security policy: `{ requireAdminSecondFactor }`. */
export const GET = route('admin', async ({ co }) => securityPolicy(co.database.db));

export const POST = route('admin', async ({ event, co, user }) => setSecurityPolicy(co.database.db, user, await body(event, 1024)));
