import { json } from '@sveltejs/kit';
import { RELAY_SIGNATURE_HEADER } from '@kofn/shared';
import type { RequestHandler } from './$types';
import { coordinator } from '$lib/server/context';
import { handle, readBytes } from '$lib/server/http';
import { acceptHeartbeat } from '$lib/server/relays';

const MAX_BODY = 4096;

/** An enrolled relay's signed, timestamped heartbeat (usage and liveness only). */
export const POST: RequestHandler = ({ request }) =>
  handle(async () => {
    const { database } = await coordinator();
    const body = await readBytes(request, MAX_BODY);
    return json({ ok: true, ...(await acceptHeartbeat(database.db, body, request.headers.get(RELAY_SIGNATURE_HEADER))) });
  });
