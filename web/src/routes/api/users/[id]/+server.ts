import { body, route } from '$lib/server/http';
import { administer } from '$lib/server/accounts';

/** `{ disabled?, role?, password? }` (administrators). */
export const PATCH = route('admin', async ({ event, co, user }) => administer(co.database.db, user, event.params.id, await body(event)));
