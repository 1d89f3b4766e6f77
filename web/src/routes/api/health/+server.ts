import { json } from '@sveltejs/kit';
import { KOFN_VERSION } from '@kofn/shared';
import type { RequestHandler } from './$types';
import { coordinator } from '$lib/server/context';
import { handle } from '$lib/server/http';
import { listRelays } from '$lib/server/relays';

/** Liveness for launchers and load balancers: the database answers, migrations ran; relays online. */
export const GET: RequestHandler = () =>
  handle(async () => {
    const { database, config } = await coordinator();
    const relays = await listRelays(database.db, new Date(), config.relayOfflineAfterMs);
    return json({ ok: true, version: KOFN_VERSION, database: database.kind, relaysOnline: relays.filter((r) => r.status === 'online').length });
  });
