import { route } from '$lib/server/http';
import { listRelays } from '$lib/server/relays';

/** Administrators see every relay with its enrollment state and key fingerprint. */
export const GET = route('admin', async ({ co }) => ({ relays: await listRelays(co.database.db, new Date(), co.config.relayOfflineAfterMs) }));
