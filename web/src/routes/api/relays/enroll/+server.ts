import { json } from '@sveltejs/kit';
import { RELAY_SIGNATURE_HEADER } from '@kofn/shared';
import type { RequestHandler } from './$types';
import { coordinator } from '$lib/server/context';
import { handle, readBytes } from '$lib/server/http';
import { enrollRelay } from '$lib/server/relays';

const MAX_BODY = 4096;

/** A relay enrolls once with an administrator's one-time token, signed by the key it pins. */
export const POST: RequestHandler = ({ request }) =>
  handle(async () => {
    const { database, license } = await coordinator();
    const body = await readBytes(request, MAX_BODY);
    return json(await enrollRelay(database.db, body, request.headers.get(RELAY_SIGNATURE_HEADER), license.limits.relays));
  });
