import { route } from '$lib/server/http';
import { countUsers } from '$lib/server/auth';
import { countRelays } from '$lib/server/relays';
import { usage } from '$lib/server/usage';

export const GET = route('admin', async ({ co }) => ({
  license: co.license,
  used: {
    users: await countUsers(co.database.db),
    relays: await countRelays(co.database.db),
    ...(await usage(co.database.db, co.license))
  }
}));
