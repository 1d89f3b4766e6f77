import type { PageServerLoad } from './$types';
import { coordinator } from '$lib/server/context';
import { listRelays } from '$lib/server/relays';

export const load: PageServerLoad = async () => {
  const { config, database } = await coordinator();
  const relays = await listRelays(database.db, new Date(), config.relayOfflineAfterMs);
  return {
    relays: relays.map((r) => ({ id: r.id, name: r.name, host: r.url, location: r.location, status: r.status }))
  };
};
