/**
 * The SvelteKit glue of the signed federation routes (routes/api/federation/remote): the coordinator's
 * context around federation-http.ts, which the two-coordinator tests serve without SvelteKit.
 */
import type { RequestEvent } from '@sveltejs/kit';
import { coordinator } from './context.js';
import type { Ctx } from './file-access.js';
import type { Federated } from './federation.js';
import { federatedPreflight, federatedResponse } from './federation-http.js';

/** This deployment's name as linked deployments show it: KOFN_DEPLOYMENT_NAME, else its host. */
export function deploymentName(url: URL): string {
  const name = process.env.KOFN_DEPLOYMENT_NAME?.trim();
  return name !== undefined && name !== '' && name.length <= 100 ? name : url.host;
}

export async function preflight(event: RequestEvent): Promise<Response> {
  const co = await coordinator();
  return federatedPreflight(co.database.db, event.request);
}

export function federated(fn: (ctx: Ctx, f: Federated, body: Record<string, unknown>) => Promise<unknown>, status = 200): (event: RequestEvent) => Promise<Response> {
  return async (event) => {
    const co = await coordinator();
    return federatedResponse({ db: co.database.db, ctxFor: (user) => ({ db: co.database.db, user, license: co.license, key: co.signingKey, config: co.config }) }, event.request, fn, status);
  };
}
