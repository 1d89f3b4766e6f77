import { json } from '@sveltejs/kit';
import type { RequestHandler } from './$types';
import { coordinator } from '$lib/server/context';
import { handle } from '$lib/server/http';
import { listRelays } from '$lib/server/relays';

/** Storage servers: name, host, location and online status (Qasmat's `/api/storage`). */
export const GET: RequestHandler = () =>
  handle(async () => {
    const { config, database } = await coordinator();
    const relays = await listRelays(database.db, new Date(), config.relayOfflineAfterMs);
    return json({
      relays: relays.map((r) => ({ id: r.id, name: r.name, host: r.url, location: r.location, status: r.status }))
    });
  });
