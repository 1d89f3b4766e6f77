import { json } from '@sveltejs/kit';
import type { RequestHandler } from './$types';
import { coordinator } from '$lib/server/context';
import { handle } from '$lib/server/http';
import { publicJwks } from '$lib/server/signing-keys';

/** The public keys relays verify capability tokens with. */
export const GET: RequestHandler = () =>
  handle(async () => {
    const { database } = await coordinator();
    return json(await publicJwks(database.db), { headers: { 'Cache-Control': 'public, max-age=300' } });
  });
