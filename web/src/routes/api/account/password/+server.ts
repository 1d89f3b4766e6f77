import { body, route } from '$lib/server/http';
import { changePassword } from '$lib/server/accounts';
import { clientAddress } from '$lib/server/client-address';

/** `{ currentPassword, newPassword }`: the user's other sessions end. */
export const POST = route('user', async ({ event, co, user }) => changePassword(co.database.db, user, await body(event), clientAddress(event), event.locals.sessionToken));
