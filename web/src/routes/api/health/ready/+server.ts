import { json } from '@sveltejs/kit';
import type { RequestHandler } from './$types';
import { coordinator } from '$lib/server/context';
import { readiness } from '$lib/server/readiness';

/** Readiness: the database answers and the data folder takes a write (readiness.ts); 503 names what failed. */
export const GET: RequestHandler = async () => {
  const { config, database } = await coordinator();
  const r = await readiness(database, config.dataDir);
  const headers = { 'Cache-Control': 'no-store' };
  if (r.ready) return json({ ready: true, checks: r.checks }, { headers });
  return json({ error: { code: 'UNAVAILABLE', message: 'The coordinator cannot serve requests now.' }, ready: false, checks: r.checks }, { status: 503, headers });
};
