import type { RequestHandler } from './$types';
import { remoteReserve } from '$lib/server/federation';
import { federated, preflight } from '$lib/server/federation-routes';

export const OPTIONS: RequestHandler = preflight;

/** Reserves a sub-file for a remote group: `{ size, k, relays?, name? }`; answers the reservation with put tokens. */
export const POST: RequestHandler = federated((ctx, f, body) => remoteReserve(ctx, f.userLinkId, body), 201);
