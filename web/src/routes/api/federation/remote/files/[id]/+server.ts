import type { RequestHandler } from './$types';
import { remoteRemove, remoteStatus } from '$lib/server/federation';
import { federated, preflight } from '$lib/server/federation-routes';

export const OPTIONS: RequestHandler = preflight;

/** A sub-file's state and placements. */
export const GET: RequestHandler = (event) => federated((ctx, f) => remoteStatus(ctx, f.userLinkId, event.params.id))(event);

/** Removes a sub-file (reserved or committed); a durable job deletes its shares on this deployment's relays. */
export const DELETE: RequestHandler = (event) => federated((ctx, f) => remoteRemove(ctx, f.userLinkId, event.params.id))(event);
