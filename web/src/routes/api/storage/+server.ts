import type { StorageList } from '@kofn/shared';
import { route } from '$lib/server/http';
import { listRelays } from '$lib/server/relays';

/** Storage servers: name, host, location and online status (Qasmat's `/api/storage`). */
export const GET = route('user', async ({ co }) => {
  const relays = await listRelays(co.database.db, new Date(), co.config.relayOfflineAfterMs);
  return {
    // The relays new uploads may use (the CLI counts them): draining, lost and retired ones are not listed
    // (relay-lifecycle.ts).
    relays: relays.filter((r) => r.lifecycle === 'active').map((r) => ({ id: r.id, name: r.name, host: r.url, location: r.location, status: r.status, freeBytes: r.freeBytes, usedBytes: r.usedBytes }))
  } satisfies StorageList;
});
