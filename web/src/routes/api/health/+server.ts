import { json } from '@sveltejs/kit';
import { KOFN_VERSION } from '@kofn/shared';
import type { RequestHandler } from './$types';
import { coordinator } from '$lib/server/context';
import { handle } from '$lib/server/http';

/** Liveness for launchers and load balancers: the database answers and migrations ran. */
export const GET: RequestHandler = () =>
  handle(async () => {
    const { database } = await coordinator();
    return json({ ok: true, version: KOFN_VERSION, database: database.kind });
  });
