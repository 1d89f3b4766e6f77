import { body, route } from '$lib/server/http';
import { administer, deleteUser } from '$lib/server/accounts';

/** `{ disabled?, role?, password? }` (administrators). */
export const PATCH = route('admin', async ({ event, co, user }) => administer(co.database.db, user, event.params.id, await body(event)));

/**
 * Deletes an account (administrators). Optional body `{ files: "delete" }` (the default: every file it
 * owns goes from every relay, through jobs) or `{ files: "transfer", to: <user id> }`.
 */
export const DELETE = route('admin', async ({ event, co, user }) => deleteUser(co.database.db, user, event.params.id, event.request.body ? await body(event) : {}));
