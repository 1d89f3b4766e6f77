import type { StorageList } from '@kofn/shared';
import { route } from '$lib/server/http';
import { listRelays } from '$lib/server/relays';

/** Storage servers: name, host, location and online status (Qasmat's `/api/storage`). */
export const GET = route('user', async ({ co }) => {
  const relays = await listRelays(co.database.db, new Date(), co.config.relayOfflineAfterMs);
  return {
    relays: relays.map((r) => ({ id: r.id, name: r.name, host: r.url, location: r.location, status: r.status, freeBytes: r.freeBytes, usedBytes: r.usedBytes }))
  } satisfies StorageList;
});
