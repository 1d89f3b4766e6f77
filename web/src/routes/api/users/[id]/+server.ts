import { body, route } from '$lib/server/http';
import { administer, deleteUser } from '$lib/server/accounts';

/** `{ disabled?, role?, password? }` (administrators). */
export const PATCH = route('admin', async ({ event, co, user }) => administer(co.database.db, user, event.params.id, await body(event)));

/** Deletes an account and, through jobs, every file it owns on every relay (administrators). */
export const DELETE = route('admin', async ({ event, co, user }) => deleteUser(co.database.db, user, event.params.id));
