import { json } from '@sveltejs/kit';
import { KofnError, parseAnnouncement } from '@kofn/shared';
import type { RequestHandler } from './$types';
import { coordinator } from '$lib/server/context';
import { handle, readJson } from '$lib/server/http';
import { recordHeartbeat } from '$lib/server/relays';
import { secretEquals } from '$lib/server/secrets';

const MAX_BODY = 4096;

/** A relay announces itself and heartbeats here, proving it knows the join secret. */
export const POST: RequestHandler = ({ request }) =>
  handle(async () => {
    const { config, database } = await coordinator();
    const auth = request.headers.get('authorization') ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!secretEquals(token, config.joinSecret)) throw new KofnError('UNAUTHORIZED', 'Unknown relay join secret.');
    const announcement = parseAnnouncement(await readJson(request, MAX_BODY));
    await recordHeartbeat(database.db, announcement, new Date());
    return json({ ok: true, heartbeatSeconds: config.relayOfflineAfterMs / 3000 });
  });
