/**
 * Fresh capability tokens from the coordinator when a relay says one expired (tokens live 15 minutes; a
 * long retrieval or upload outlives them). Every relay of a file whose token expired at about the same
 * moment asks at once, so the answers of one request are shared for a few seconds.
 */
import type { FreshTokens } from '@kofn/shared';
import { api } from '$lib/api';
import type { RenewToken } from './relay-http';

/** How long one coordinator answer serves further requests: the tokens it held expired together. */
const SHARE_MS = 5_000;

export type FetchTokens = () => Promise<Array<{ relayId: string; token: string }>>;

/** `fetchTokens` replaces the signed-in user's `/api/files/:id/tokens` (a share link renews through its own proof). */
export function renewer(fileId: string, op: 'get' | 'put', onTokens: (tokens: Map<string, string>) => void, fetchTokens?: FetchTokens): RenewToken {
  let pending: Promise<Map<string, string>> | undefined;
  const fetchFresh: FetchTokens = fetchTokens ?? (() => api<FreshTokens>('POST', `/api/files/${fileId}/tokens`, { op }).then((r) => r.tokens));
  return async (relayId) => {
    pending ??= fetchFresh()
      .then((list) => {
        const tokens = new Map(list.map((t) => [t.relayId, t.token]));
        onTokens(tokens);
        return tokens;
      })
      .finally(() => setTimeout(() => (pending = undefined), SHARE_MS));
    const token = (await pending).get(relayId);
    if (!token) throw { code: 'TOKEN_EXPIRED', message: 'Access to a storage server expired; try again.' };
    return token;
  };
}
