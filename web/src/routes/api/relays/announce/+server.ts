import { json } from '@sveltejs/kit';
import { eq } from 'drizzle-orm';
import { KofnError, parseAnnouncement } from '@kofn/shared';
import type { RequestHandler } from './$types';
import { coordinator } from '$lib/server/context';
import { handle, readJson } from '$lib/server/http';
import { countRelays, recordHeartbeat } from '$lib/server/relays';
import { secretEquals } from '$lib/server/secrets';
import { relays } from '$lib/server/db/schema';

const MAX_BODY = 4096;

/** A relay announces itself and heartbeats here, proving it knows the join secret. */
export const POST: RequestHandler = ({ request }) =>
  handle(async () => {
    const { config, database, license } = await coordinator();
    const auth = request.headers.get('authorization') ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!secretEquals(token, config.joinSecret)) throw new KofnError('UNAUTHORIZED', 'Unknown relay join secret.');
    const announcement = parseAnnouncement(await readJson(request, MAX_BODY));
    const [known] = await database.db.select({ id: relays.id }).from(relays).where(eq(relays.id, announcement.id));
    if (!known && (await countRelays(database.db)) >= license.limits.relays) {
      console.warn(`kofn: licence limit reached: ${license.limits.relays} relays; relay ${announcement.name} refused.`);
      throw new KofnError('LICENSE_LIMIT', `The licence allows ${license.limits.relays} storage servers.`);
    }
    await recordHeartbeat(database.db, announcement, new Date());
    return json({ ok: true });
  });
