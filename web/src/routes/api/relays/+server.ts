import { route } from '$lib/server/http';
import { listRelays } from '$lib/server/relays';
import { lifecycleViews } from '$lib/server/relay-lifecycle';

/** Administrators see every relay with its enrollment state, key fingerprint and lifecycle progress (#16). */
export const GET = route('admin', async ({ co }) => {
  const progress = new Map((await lifecycleViews(co.database.db)).map((v) => [v.relayId, v]));
  return { relays: (await listRelays(co.database.db, new Date(), co.config.relayOfflineAfterMs)).map((r) => ({ ...r, progress: progress.get(r.id) ?? null })) };
});
