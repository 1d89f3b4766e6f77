import type { RequestHandler } from './$types';
import { coordinator } from '$lib/server/context';
import { infoResponse } from '$lib/server/federation-http';
import { deploymentName } from '$lib/server/federation-routes';

/** A linked deployment's server asks with its link token (Authorization: Bearer kofn_fed_...): public info only. */
export const GET: RequestHandler = async (event) => {
  const co = await coordinator();
  return infoResponse(co.database.db, co.config, event.request, deploymentName(event.url));
};
