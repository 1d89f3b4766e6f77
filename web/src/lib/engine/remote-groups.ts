/**
 * Remote groups (issue #21 part 2, federation; shared/docs/federation.md): a group of a tree file that lives
 * on another, linked kofn deployment X. This page does every step at X itself, through federation-client.ts
 * (signed requests, X's CORS) and X's relays, so nothing of that group's shares or tokens passes through the
 * home deployment H:
 *
 * - protect: reserve the group's sub-file at X (X picks its relays and their x's), name it in the layout H
 *   records, split the group's share over X's relays in the same worker pass as the local groups, PUT those
 *   sub-shares to X's relays with X's tokens, commit at X, then at H. Failure removes the sub-file at X.
 * - retrieve: X's status and read tokens for the sub-file; its relays join the file's placements under the
 *   group's x, so ranking and failover treat it as any group. A deployment that does not answer leaves its
 *   group out: any K groups suffice.
 * - remove: when a file is removed for good, H lists its sub-files for the owner (`GET /api/federation/removals`,
 *   recorded by its delete-file job); `drainRemoteRemovals` removes each at its deployment and clears it at H.
 *   One that cannot be removed now (X down, this browser not linked there) stays listed for the next visit.
 *
 * On X the sub-file is an ordinary flat file of X's user (remote-chunks.ts rewrites the headers in the worker).
 */
import { KofnError, type LayoutRequest, type Manifest, type Reservation, type TreeManifest } from '@kofn/shared';
import { openDB, type IDBPDatabase } from 'idb';
import type { RemoteChunkTarget } from './remote-chunks';
import { api } from '$lib/api';
import { remoteLinkOf, removeRemote, reserveRemote, statusRemote, tokensRemote, type RemoteLink } from '$lib/federation-client';

/** True when a layout or tree has a group on another deployment. */
export function hasRemote(layout: Pick<LayoutRequest | TreeManifest, 'groups'> | undefined | null): boolean {
  return layout?.groups.some((g) => g.kind === 'remote') ?? false;
}

/** This browser's link to a deployment, or a clear error when the user has not linked it here. */
export async function requireLink(deployment: string): Promise<RemoteLink> {
  const link = await remoteLinkOf(deployment);
  if (!link) throw new KofnError('FEDERATION_INVALID', 'This browser is not linked to your account on the other deployment: Account > Other deployments > Link my account there.');
  return link;
}

/** A remote group's sub-file reserved at X, before H knows of it. */
export interface RemoteReservation {
  deployment: string;
  link: RemoteLink;
  reservation: Reservation;
}

/**
 * Reserves at X the sub-file of every remote group of `layout` and answers the layout H is asked for: each
 * remote group naming its sub-file (and X's relay count as n). On failure, whatever was reserved is removed.
 */
export async function reserveRemoteGroups(layout: LayoutRequest, size: number, signal?: AbortSignal): Promise<{ layout: LayoutRequest; remotes: RemoteReservation[] }> {
  const remotes: RemoteReservation[] = [];
  try {
    const groups = [];
    for (const g of layout.groups) {
      if (g.kind !== 'remote') {
        groups.push(g);
        continue;
      }
      const link = await requireLink(g.deployment);
      const reservation = await reserveRemote(link, { size, k: g.k }, signal);
      remotes.push({ deployment: g.deployment, link, reservation });
      groups.push({ ...g, n: reservation.placements.length, fileId: reservation.fileId });
    }
    return { layout: { ...layout, groups }, remotes };
  } catch (err) {
    await removeRemoteGroups(remotes.map((r) => ({ deployment: r.deployment, fileId: r.reservation.fileId })));
    throw err;
  }
}

/** One relay of the file as the upload addresses it; X's relays carry their sub-file. */
export interface UploadPlacement {
  relayId: string;
  name: string;
  url: string;
  x: number;
  remote?: RemoteChunkTarget;
}

/**
 * The encoding tree and the relays in its order: H's tree with each remote group turned into a local group
 * of X's relays and x's (the encoder splits it like any group), and the put tokens of X's relays.
 */
export function encodingTree(
  tree: TreeManifest,
  local: Reservation['placements'],
  remotes: readonly RemoteReservation[]
): { tree: TreeManifest; placements: UploadPlacement[]; tokens: Map<string, string> } {
  const placements: UploadPlacement[] = [];
  const tokens = new Map<string, string>();
  const groups = tree.groups.map((g) => {
    if (g.kind === 'local') {
      for (const r of g.relays) {
        const p = local.find((l) => l.relayId === r.relayId);
        if (!p) throw new KofnError('INTERNAL', 'The reservation has no placement for a relay of its tree.');
        placements.push({ relayId: p.relayId, name: p.name, url: p.url, x: p.x });
      }
      return g;
    }
    const rr = remotes.find((r) => r.deployment === g.deployment && r.reservation.fileId === g.fileId);
    if (!rr) throw new KofnError('INTERNAL', 'A remote group of the tree was not reserved by this page.');
    const res = rr.reservation;
    for (const p of res.placements) {
      placements.push({ relayId: p.relayId, name: p.name, url: p.url, x: p.x, remote: { fileId: res.fileId, epoch: res.epoch, groupX: g.x, groupK: tree.k } });
      tokens.set(p.relayId, p.token);
    }
    return { kind: 'local' as const, x: g.x, k: g.k, ...(g.label === undefined ? {} : { label: g.label }), relays: res.placements.map((p) => ({ relayId: p.relayId, x: p.x })) };
  });
  return { tree: { ...tree, groups }, placements, tokens };
}

/** Put tokens for every remote group's relays (a long upload outlives the first ones). */
export async function remotePutTokens(remotes: readonly RemoteReservation[]): Promise<Array<{ relayId: string; token: string }>> {
  const all = await Promise.all(remotes.map(async (r) => (await tokensRemote(r.link, r.reservation.fileId, 'put')).tokens));
  return all.flat();
}

type Placement = Manifest['placements'][number] & { remote?: RemoteChunkTarget };

/** A manifest whose placements include the remote groups' relays that answered (with X's read tokens). */
export interface RemoteReadable {
  manifest: Manifest & { placements: Placement[] };
  /** Fresh read tokens of X's relays, for the renewer. */
  tokens: () => Promise<Array<{ relayId: string; token: string }>>;
  /** Remote groups left out, and why (unlinked here, X unreachable, revoked, ...). */
  missing: Array<{ deployment: string; code: string; message: string }>;
  /** X's relay ids (H knows nothing of them: they are not reported to H). */
  remoteRelays: Set<string>;
}

/**
 * Adds each remote group's relays to the manifest: X's status of the sub-file and its read tokens. A group
 * whose deployment does not answer, or is not linked here, is left out (its group then has no relays and
 * ranks last), so a retrieval with K other groups still succeeds.
 */
export async function withRemoteGroups(m: Manifest, signal?: AbortSignal): Promise<RemoteReadable> {
  const K = m.layout?.k ?? 0;
  const missing: RemoteReadable['missing'] = [];
  const remoteRelays = new Set<string>();
  const reached: Array<{ link: RemoteLink; fileId: string }> = [];
  const extra: Placement[] = [];
  await Promise.all(
    (m.layout?.groups ?? []).map(async (g) => {
      if (g.kind !== 'remote') return;
      try {
        const link = await requireLink(g.deployment);
        const [status, tokens] = await Promise.all([statusRemote(link, g.fileId, signal), tokensRemote(link, g.fileId, 'get', signal)]);
        if (status.status !== 'available' || status.chunkSize !== m.chunkSize || status.chunkCount !== m.chunkCount || status.k !== g.k) {
          throw new KofnError('BAD_SHARE_FORMAT', 'The sub-file at the other deployment does not match this file.');
        }
        const byRelay = new Map(tokens.tokens.map((t) => [t.relayId, t.token]));
        for (const p of status.placements) {
          remoteRelays.add(p.relayId);
          extra.push({
            relayId: p.relayId,
            name: p.name,
            url: p.url,
            location: '',
            x: p.x,
            online: p.online,
            token: byRelay.get(p.relayId) ?? '',
            groupX: g.x,
            remote: { fileId: g.fileId, epoch: status.epoch, groupX: g.x, groupK: K }
          });
        }
        reached.push({ link, fileId: g.fileId });
      } catch (err) {
        const e = err as { code?: unknown; message?: unknown } | null;
        missing.push({ deployment: g.deployment, code: typeof e?.code === 'string' ? e.code : 'FEDERATION_REMOTE_UNREACHABLE', message: typeof e?.message === 'string' ? e.message : 'No answer.' });
      }
    })
  );
  const placements = [...m.placements, ...extra];
  return {
    manifest: { ...m, placements, n: placements.length },
    tokens: async () => (await Promise.all(reached.map(async (r) => (await tokensRemote(r.link, r.fileId, 'get')).tokens))).flat(),
    missing,
    remoteRelays
  };
}

// ---- removal: best effort now, kept in this browser and retried when the other deployment is back ----

const DB_NAME = 'kofn-remote-removals';
const STORE = 'pending';
let dbp: Promise<IDBPDatabase> | undefined;
function database(): Promise<IDBPDatabase> {
  dbp ??= openDB(DB_NAME, 1, {
    upgrade(db) {
      db.createObjectStore(STORE, { keyPath: 'key' });
    }
  });
  return dbp;
}

export interface RemoteSubFile {
  deployment: string;
  fileId: string;
}

/**
 * Removes sub-files at their deployments. The ones that could not be removed now (the deployment is down)
 * are kept in IndexedDB and answered; `retryRemoteRemovals` tries them again. A sub-file never committed is
 * also removed by X's own reservation sweep.
 */
export async function removeRemoteGroups(subFiles: readonly RemoteSubFile[]): Promise<RemoteSubFile[]> {
  const left: RemoteSubFile[] = [];
  await Promise.all(
    subFiles.map(async (s) => {
      try {
        const link = await requireLink(s.deployment);
        await removeRemote(link, s.fileId);
        await (await database()).delete(STORE, `${s.deployment}/${s.fileId}`).catch(() => undefined);
      } catch (err) {
        // Already gone at X (removed before, or swept): nothing left to do.
        if ((err as { code?: unknown } | null)?.code === 'NOT_FOUND') return;
        left.push(s);
        await (await database()).put(STORE, { key: `${s.deployment}/${s.fileId}`, ...s }).catch(() => undefined);
      }
    })
  );
  return left;
}

/** Tries again every removal kept by `removeRemoteGroups`; answers how many are still waiting. */
export async function retryRemoteRemovals(): Promise<number> {
  const pending = (await (await database()).getAll(STORE)) as Array<RemoteSubFile & { key: string }>;
  if (pending.length === 0) return 0;
  return (await removeRemoteGroups(pending.map(({ deployment, fileId }) => ({ deployment, fileId })))).length;
}

/** The remote sub-files of a tree (what removing the file must remove at other deployments). */
export function remoteSubFiles(tree: TreeManifest | undefined | null): RemoteSubFile[] {
  return (tree?.groups ?? []).flatMap((g) => (g.kind === 'remote' ? [{ deployment: g.deployment, fileId: g.fileId }] : []));
}

/**
 * Removes at their deployments the sub-files of files removed here for good (listed by H), clearing each at H
 * once removed; then retries the removals this browser kept (failed uploads). Answers how many still wait.
 */
export async function drainRemoteRemovals(): Promise<number> {
  const { removals } = await api<{ removals: RemoteSubFile[] }>('GET', '/api/federation/removals');
  let left = 0;
  for (const r of removals) {
    if ((await removeRemoteGroups([r])).length > 0) {
      left += 1;
      continue;
    }
    await api('POST', '/api/federation/removals', { deployment: r.deployment, fileId: r.fileId });
  }
  return left + (await retryRemoteRemovals());
}
