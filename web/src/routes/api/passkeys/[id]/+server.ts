import { body, route } from '$lib/server/http';
import { removePasskey, renamePasskey } from '$lib/server/passkeys';

/** `{ name }`: renames one of the user's passkeys. */
export const PATCH = route('user', async ({ event, co, user }) => ({ passkey: await renamePasskey(co.database.db, user, event.params.id, (await body(event)).name) }));

/** Removes one of the user's passkeys: it signs in no more. */
export const DELETE = route('user', async ({ event, co, user }) => {
  await removePasskey(co.database.db, user, event.params.id);
  return { removed: true };
});
