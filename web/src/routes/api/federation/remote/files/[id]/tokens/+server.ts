import type { RequestHandler } from './$types';
import { remoteTokens } from '$lib/server/federation';
import { federated, preflight } from '$lib/server/federation-routes';

export const OPTIONS: RequestHandler = preflight;

/** Fresh relay tokens for a sub-file: `{ op: 'put' | 'list' | 'delete' }` while reserved, `{ op: 'get' }` once committed. */
export const POST: RequestHandler = (event) => federated((ctx, f, body) => remoteTokens(ctx, f.userLinkId, event.params.id, body.op))(event);
