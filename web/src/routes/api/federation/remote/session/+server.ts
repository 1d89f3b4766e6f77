import type { RequestHandler } from './$types';
import { federated, preflight } from '$lib/server/federation-routes';

export const OPTIONS: RequestHandler = preflight;

/** Whom a linked browser acts for here (its link's state shows as the error when it no longer works). */
export const GET: RequestHandler = federated(async (_ctx, f) => ({ userLinkId: f.userLinkId, email: f.user.email, displayName: f.user.displayName }));
