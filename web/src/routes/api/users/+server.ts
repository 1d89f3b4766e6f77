import { createUser, listUsers } from '$lib/server/auth';
import { body, route } from '$lib/server/http';
import * as v from '$lib/server/validate';

export const GET = route('admin', async ({ co }) => ({ users: await listUsers(co.database.db) }));

/** The administrator creates a user with an initial password (the licence caps the number of users). */
export const POST = route(
  'admin',
  async ({ event, co }) => {
    const b = await body(event);
    const role =
      b.role === undefined
        ? 'user'
        : b.role === 'admin' || b.role === 'user'
          ? b.role
          : (() => {
              throw v.wrongValue('role', 'admin, user');
            })();
    const user = await createUser(
      co.database.db,
      { email: v.email(b.email), displayName: v.text(b.displayName, 'displayName', 100), password: v.password(b.password), role, mustChangePassword: b.mustChangePassword === true },
      co.license.limits.users
    );
    return { user };
  },
  201
);
