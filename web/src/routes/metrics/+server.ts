import { json } from '@sveltejs/kit';
import { KofnError } from '@kofn/shared';
import type { RequestHandler } from './$types';
import { coordinator } from '$lib/server/context';
import { errorResponse } from '$lib/server/http';
import { scrapeAuthorized } from '$lib/server/metrics';

/**
 * Prometheus scrape (metrics.ts): only with `Authorization: Bearer <KOFN_METRICS_TOKEN>`; without a
 * configured token the route does not exist. Read only, so a replayed scrape only reads again.
 */
export const GET: RequestHandler = async ({ request }) => {
  const { config, metrics } = await coordinator();
  if (config.metricsToken === undefined) return errorResponse(new KofnError('NOT_FOUND', 'Not found.'));
  if (!scrapeAuthorized(request.headers.get('authorization'), config.metricsToken)) {
    return json(
      { error: { code: 'UNAUTHORIZED', message: 'A valid scrape token is required.' } },
      { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="kofn-metrics"', 'Cache-Control': 'no-store' } }
    );
  }
  try {
    return new Response(await metrics.registry.metrics(), { headers: { 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' } });
  } catch (err) {
    // A state query past its bound (metrics.ts): the scrape fails visibly, as Prometheus expects.
    console.error('kofn: metrics scrape failed:', err instanceof Error ? err.message : err);
    return errorResponse(new KofnError('UNAVAILABLE', 'Metrics are not available right now.'));
  }
};
