/**
 * Fresh capability tokens from the coordinator when a relay says one expired (tokens live 15 minutes; a
 * long retrieval or upload outlives them). Every relay of a file whose token expired at about the same
 * moment asks at once, so the answers of one request are shared for a few seconds.
 */
import type { FreshTokens } from '@kofn/shared';
import { api } from '$lib/api';
import type { RenewToken } from './relay-http';

/** The coordinator's answers that mean the user may no longer have tokens for this file at all. */
const REFUSED = new Set(['NOT_FOUND', 'UNAUTHORIZED', 'FORBIDDEN', 'LINK_INVALID', 'LINK_EXPIRED']);

/**
 * What a failed renewal throws into the share worker: a plain `{ code, message }`, since Comlink passes an
 * Error only as its name and message and the code is what the engine decides by. A refusal becomes
 * ACCESS_ENDED (issue #17 defect 2: the owner revoked a grantee's access during a download), which ends
 * the transfer with that reason instead of blaming, and replacing, the relay that asked.
 */
function renewalFailure(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : 'COORDINATOR_UNREACHABLE';
  if (REFUSED.has(code))
    return { code: 'ACCESS_ENDED', message: 'You no longer have access to this file: it was removed or your access was revoked while it was being transferred. Nothing was saved.' };
  // A share link refused otherwise (issue #19: revoked during a download) ends it too, in the coordinator's
  // words, which name the reason ("The owner revoked this link.").
  if (code.startsWith('LINK_')) return { code: 'ACCESS_ENDED', message: `${typeof e?.message === 'string' ? e.message : 'The link no longer works.'} Nothing was saved.` };
  // The file was renewed during the download and the relays no longer keep the epoch it reads (#15): ends it
  // too, without blaming a relay, in the coordinator's words.
  if (code === 'EPOCH_GONE') return { code, message: `${typeof e?.message === 'string' ? e.message : 'The file was renewed during the transfer; retrieve it again.'} Nothing was saved.` };
  return { code, message: typeof e?.message === 'string' ? e.message : 'The coordinator could not renew access to the storage servers; try again.' };
}

/** How long one coordinator answer serves further requests: the tokens it held expired together. */
const SHARE_MS = 5_000;

export type FetchTokens = () => Promise<Array<{ relayId: string; token: string }>>;

/** `fetchTokens` replaces the signed-in user's `/api/files/:id/tokens` (a share link renews through its own proof). */
export function renewer(fileId: string, op: 'get' | 'put', onTokens: (tokens: Map<string, string>) => void, fetchTokens?: FetchTokens): RenewToken {
  let pending: Promise<Map<string, string>> | undefined;
  const fromCoordinator: FetchTokens = fetchTokens ?? (() => api<FreshTokens>('POST', `/api/files/${fileId}/tokens`, { op }).then((r) => r.tokens));
  const fetchFresh: FetchTokens = () =>
    fromCoordinator().catch((err: unknown) => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- a plain { code, message } crosses Comlink whole; an Error loses its code
      throw renewalFailure(err);
    });
  return async (relayId) => {
    pending ??= fetchFresh()
      .then((list) => {
        const tokens = new Map(list.map((t) => [t.relayId, t.token]));
        onTokens(tokens);
        return tokens;
      })
      .finally(() => setTimeout(() => (pending = undefined), SHARE_MS));
    const token = (await pending).get(relayId);
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- as above: the engine decides by code
    if (!token) throw { code: 'TOKEN_EXPIRED', message: 'Access to a storage server expired; try again.' };
    return token;
  };
}
