import type { RequestHandler } from './$types';
import { remoteCommit } from '$lib/server/federation';
import { federated, preflight } from '$lib/server/federation-routes';

export const OPTIONS: RequestHandler = preflight;

/** Commits a sub-file: `{ roots: { relayId: digestRoot } }`, checked against every relay as for any file. */
export const POST: RequestHandler = (event) => federated((ctx, f, body) => remoteCommit(ctx, f.userLinkId, event.params.id, body))(event);
