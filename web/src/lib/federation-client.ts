/**
 * The browser's side of federation (issue #21 part 2; shared/docs/federation.md): this page (served by the
 * home deployment H) talks to another deployment X's coordinator directly, with X's CORS, never through H.
 *
 * - `linkAccount` makes a non-extractable Ed25519 key pair, opens X's own approval page in a popup (the user
 *   signs in at X there, with X's cookie, which H never sees) and keeps the key and X's user-link id in
 *   IndexedDB. The private key cannot be exported, so neither H's server nor a copied database can act at X.
 * - `reserveRemote`, `tokensRemote`, `statusRemote`, `commitRemote`, `removeRemote` are the calls a
 *   protect, retrieve or removal of a remote group makes: every request signed (federation-proof.ts),
 *   without cookies, bounded in time and size; X's relay tokens go only to this page.
 *
 * Errors are ApiError with X's stable code (FEDERATION_REVOKED, FEDERATION_ORIGIN, ...), or
 * FEDERATION_REMOTE_UNREACHABLE / FEDERATION_REMOTE_BAD_ANSWER when X did not answer properly.
 */
import { openDB, type IDBPDatabase } from 'idb';
import { FEDERATION_HEADER, USER_LINK_ID, newFederationKeyPair, readBounded, signFederated, type FreshTokens, type RemoteStatus, type Reservation } from '@kofn/shared';
import { ApiError } from './api';

/** A linked deployment as H's `GET /api/federation/remotes` lists it (the fields this module needs). */
export interface RemoteDeployment {
  deploymentId: string;
  /** X's origin. */
  url: string;
  linkHandle: string;
}

/** This browser's link to X: the user-link id X issued and the key that signs for it. */
export interface RemoteLink {
  deploymentId: string;
  url: string;
  userLinkId: string;
  publicKey: string;
  keys: CryptoKeyPair;
}

/** The message X's approval page posts to this page (exactly to this origin) once the user approved. */
export interface LinkedMessage {
  type: 'kofn-federation-linked';
  userLinkId: string;
  publicKey: string;
}

/** Every answer X gives here is a small JSON document (a reservation of 255 relays is ~150 KiB). */
export const MAX_REMOTE_ANSWER = 1024 * 1024;
export const REMOTE_TIMEOUT_MS = 30_000;
/** How long the approval popup may stay open before linking gives up. */
export const LINK_TIMEOUT_MS = 10 * 60_000;

const DB_NAME = 'kofn-federation';
const STORE = 'links';
let dbp: Promise<IDBPDatabase> | undefined;

function database(): Promise<IDBPDatabase> {
  dbp ??= openDB(DB_NAME, 1, {
    upgrade(db) {
      db.createObjectStore(STORE, { keyPath: 'deploymentId' });
    }
  });
  return dbp;
}

/** This browser's link to a deployment, if it made one. */
export async function remoteLinkOf(deploymentId: string): Promise<RemoteLink | undefined> {
  return (await (await database()).get(STORE, deploymentId)) as RemoteLink | undefined;
}

/** Forgets this browser's link (its key goes with it; unlink at X as well to revoke it there). */
export async function forgetRemoteLink(deploymentId: string): Promise<void> {
  await (await database()).delete(STORE, deploymentId);
}

/** The address of X's approval page for this key. */
export function approvalUrl(remote: RemoteDeployment, publicKey: string, origin: string): string {
  const u = new URL('/federation/link', remote.url);
  u.searchParams.set('link', remote.linkHandle);
  u.searchParams.set('origin', origin);
  u.searchParams.set('key', publicKey);
  return u.toString();
}

/**
 * Links this browser to the user's account at `remote`: a fresh key pair, X's approval page in a popup,
 * and X's answer taken only from X's origin, for this key. Rejects with FEDERATION_REVOKED-like codes
 * never; with CANCELLED when the popup is closed or blocked, or the time runs out.
 */
export async function linkAccount(remote: RemoteDeployment, win: Window = window): Promise<RemoteLink> {
  const { keys, publicKey } = await newFederationKeyPair();
  const popup = win.open(approvalUrl(remote, publicKey, win.location.origin), 'kofn-federation-link', 'popup,width=520,height=640');
  if (!popup) throw new ApiError('CANCELLED', 'The browser blocked the window of the other deployment: allow pop-ups for this site.', 0);
  const remoteOrigin = new URL(remote.url).origin;
  const userLinkId = await new Promise<string>((resolve, reject) => {
    const done = (fn: () => void) => {
      win.removeEventListener('message', onMessage);
      clearInterval(watch);
      clearTimeout(timer);
      fn();
    };
    const onMessage = (e: MessageEvent) => {
      // Only X's own page, and only for the key made here, can complete the link.
      if (e.origin !== remoteOrigin || e.source !== popup) return;
      const m = e.data as Partial<LinkedMessage> | null;
      if (m?.type !== 'kofn-federation-linked' || m.publicKey !== publicKey || typeof m.userLinkId !== 'string' || !USER_LINK_ID.test(m.userLinkId)) return;
      const id = m.userLinkId;
      done(() => resolve(id));
    };
    const watch = setInterval(() => {
      if (popup.closed) done(() => reject(new ApiError('CANCELLED', 'The window of the other deployment was closed before the link was approved.', 0)));
    }, 500);
    const timer = setTimeout(() => done(() => reject(new ApiError('CANCELLED', 'Linking took too long.', 0))), LINK_TIMEOUT_MS);
    win.addEventListener('message', onMessage);
  });
  popup.close();
  const link: RemoteLink = { deploymentId: remote.deploymentId, url: remoteOrigin, userLinkId, publicKey, keys };
  await (await database()).put(STORE, link);
  return link;
}

/** One signed request to X: no cookies, at most REMOTE_TIMEOUT_MS and MAX_REMOTE_ANSWER bytes. */
export async function federatedFetch<T>(link: Pick<RemoteLink, 'url' | 'userLinkId' | 'keys'>, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const bytes = body === undefined ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(body));
  const header = await signFederated(link.keys.privateKey, link.userLinkId, method, path, bytes);
  const timeout = AbortSignal.timeout(REMOTE_TIMEOUT_MS);
  const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let res: Response;
  let raw: Uint8Array;
  try {
    res = await fetch(new URL(path, link.url), {
      method,
      mode: 'cors',
      credentials: 'omit',
      headers: { [FEDERATION_HEADER]: header, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: bytes }),
      signal: both
    });
    raw = await readBounded(res.body, MAX_REMOTE_ANSWER, () => new ApiError('FEDERATION_REMOTE_BAD_ANSWER', 'The other deployment answered too much.', 0));
  } catch (err) {
    if (err instanceof ApiError || signal?.aborted) throw err;
    throw new ApiError('FEDERATION_REMOTE_UNREACHABLE', `The other deployment at ${new URL(link.url).host} is not reachable.`, 0);
  }
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    throw new ApiError('FEDERATION_REMOTE_BAD_ANSWER', `The other deployment answered badly (${res.status}).`, res.status);
  }
  if (!res.ok) {
    const e = (data as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const code = typeof e?.code === 'string' && /^[A-Z_]{1,40}$/.test(e.code) ? e.code : 'FEDERATION_REMOTE_BAD_ANSWER';
    throw new ApiError(code, typeof e?.message === 'string' ? e.message.slice(0, 300) : `The other deployment refused (${res.status}).`, res.status);
  }
  return data as T;
}

/** Whom this browser acts for at X; fails with X's code (FEDERATION_REVOKED, ...) when the link no longer works. */
export function whoamiRemote(link: RemoteLink, signal?: AbortSignal): Promise<{ userLinkId: string; email: string; displayName: string }> {
  return federatedFetch(link, 'GET', '/api/federation/remote/session', undefined, signal);
}

/** Reserves a sub-file at X for a remote group: X picks relays (or takes `relays`), answers placements with put tokens. */
export function reserveRemote(link: RemoteLink, input: { size: number; k: number; relays?: string[]; name?: string }, signal?: AbortSignal): Promise<Reservation> {
  return federatedFetch<Reservation>(link, 'POST', '/api/federation/remote/files', input, signal);
}

/** Fresh relay tokens for a sub-file: put, list, delete while reserved; get once committed. */
export function tokensRemote(link: RemoteLink, fileId: string, op: 'put' | 'get' | 'list' | 'delete', signal?: AbortSignal): Promise<FreshTokens> {
  return federatedFetch<FreshTokens>(link, 'POST', `/api/federation/remote/files/${encodeURIComponent(fileId)}/tokens`, { op }, signal);
}

export function statusRemote(link: RemoteLink, fileId: string, signal?: AbortSignal): Promise<RemoteStatus> {
  return federatedFetch<RemoteStatus>(link, 'GET', `/api/federation/remote/files/${encodeURIComponent(fileId)}`, undefined, signal);
}

/** Commits a sub-file once every relay holds every chunk: `roots` maps relay id to digest root. */
export function commitRemote(link: RemoteLink, fileId: string, roots: Record<string, string>, signal?: AbortSignal): Promise<{ fileId: string; status: 'available' }> {
  return federatedFetch(link, 'POST', `/api/federation/remote/files/${encodeURIComponent(fileId)}/commit`, { roots }, signal);
}

/** Removes a sub-file at X (after a failed protect, or with the file); X's job deletes its shares. */
export function removeRemote(link: RemoteLink, fileId: string, signal?: AbortSignal): Promise<{ fileId: string; status: 'deleting' }> {
  return federatedFetch(link, 'DELETE', `/api/federation/remote/files/${encodeURIComponent(fileId)}`, undefined, signal);
}
