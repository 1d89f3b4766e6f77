import { json } from '@sveltejs/kit';
import type { RequestHandler } from './$types';

/** Liveness: the process serves requests. Touches nothing else, so a slow database never restarts it. */
export const GET: RequestHandler = () => json({ live: true }, { headers: { 'Cache-Control': 'no-store' } });
