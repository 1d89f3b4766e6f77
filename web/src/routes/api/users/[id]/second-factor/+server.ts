import { route } from '$lib/server/http';
import { resetSecondFactor } from '$lib/server/second-factor';

/** An administrator removes a user's two-step sign-in (lost authenticator and recovery codes). */
export const DELETE = route('admin', async ({ event, co, user }) => resetSecondFactor(co.database.db, user, event.params.id));
