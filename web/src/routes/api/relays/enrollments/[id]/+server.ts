import { KofnError } from '@kofn/shared';
import { route } from '$lib/server/http';
import { revokeEnrollment } from '$lib/server/relays';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Revokes a pending enrollment token. */
export const DELETE = route('admin', async ({ event, co }) => {
  const id = event.params.id ?? '';
  if (!UUID.test(id)) throw new KofnError('NOT_FOUND', 'No such pending enrollment.');
  await revokeEnrollment(co.database.db, id);
  return { revoked: true };
});
