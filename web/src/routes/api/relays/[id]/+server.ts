import { KofnError, RELAY_ID_PATTERN } from '@kofn/shared';
import { body, route } from '$lib/server/http';
import { updateRelay } from '$lib/server/relays';

/** Only an administrator changes a relay's URL, name or location (recorded in their history). */
export const PATCH = route('admin', async ({ event, co, user }) => {
  const id = event.params.id ?? '';
  if (!RELAY_ID_PATTERN.test(id)) throw new KofnError('NOT_FOUND', 'No such storage server.');
  await updateRelay(co.database.db, user.id, id, await body(event));
  return { updated: true };
});
