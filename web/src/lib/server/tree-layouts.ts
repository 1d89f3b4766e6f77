/**
 * Multi-level sharing on the coordinator (issue #21, shared/docs/multilevel.md): a reservation may carry a
 * `layout` (K over groups of this deployment's relays, each with its own k_g). This module checks it
 * against the relays the coordinator knows and draws the tree's x's; reservations.ts stores the manifest
 * tree on the file row (`files.layout`) and one placement per relay (with its group's x), so every path
 * that works per placement (tokens, commit's per-relay checks, removal everywhere) covers tree files
 * unchanged. Repair and moves work within a group (`shareThreshold`, `sameSharing`). Renewal renews a tree
 * whose groups are all on this deployment with a two-level update (`renewalSharing`, shared/docs/renewal.md
 * "Tree files"); a tree with a remote group is skipped (`hasRemoteGroupIn`).
 */
import { eq } from 'drizzle-orm';
import { KofnError, checkLayoutRequest, withRelayMoved, type GroupManifest, type LayoutRequest, type TreeManifest, type TreeSharing } from '@kofn/shared';
import { files } from './db/schema.js';
import type { federationRemotes, relays } from './db/schema.js';
import { isOnline, relaysDownError, type Ctx, type Tx } from './file-access.js';

type RelayRow = typeof relays.$inferSelect;
/** The deployments linked here (federation.ts): a remote group must name one that is not revoked. */
export type RemoteRow = Pick<typeof federationRemotes.$inferSelect, 'deploymentId' | 'status'>;

export interface CheckedLayout {
  layout: LayoutRequest;
  /** The relay rows of the local groups, in tree order: groups in order, each group's relays in order. */
  chosen: RelayRow[];
}

/**
 * Checks a reservation's layout: its shape and thresholds (shared/src/layout.ts, one code per rule), then
 * that every relay is one of ours in service (LAYOUT_UNKNOWN_RELAY) and online with its key pinned
 * (RELAYS_OFFLINE, naming them), and that every remote group (federation, docs/federation.md) names a
 * deployment linked here (LAYOUT_UNKNOWN_DEPLOYMENT) whose link is not revoked (FEDERATION_REVOKED), and a
 * sub-file there at most once (LAYOUT_RELAY_TWICE). The sub-file itself is the browser's to reserve and
 * fill at that deployment: this coordinator holds no token of it and cannot check it, only record it.
 */
export function checkTreeLayout(ctx: Ctx, raw: unknown, all: RelayRow[], now: Date, remotes: readonly RemoteRow[] = []): CheckedLayout {
  const layout = checkLayoutRequest(raw);
  const subFiles = new Set<string>();
  for (const g of layout.groups) {
    if (g.kind !== 'remote') continue;
    const remote = remotes.find((r) => r.deploymentId === g.deployment);
    if (!remote) throw new KofnError('LAYOUT_UNKNOWN_DEPLOYMENT', 'The layout names a deployment that is not linked to this one.');
    if (remote.status === 'revoked') throw new KofnError('FEDERATION_REVOKED', 'The link to that deployment was revoked there; choose another group.');
    const key = `${g.deployment}/${g.fileId}`;
    if (subFiles.has(key)) throw new KofnError('LAYOUT_RELAY_TWICE', 'A sub-file on another deployment appears twice in the layout.');
    subFiles.add(key);
  }
  const chosen = layout.groups.flatMap((g) =>
    g.kind !== 'local'
      ? []
      : g.relays.map((id) => {
          const r = all.find((row) => row.id === id && row.lifecycle === 'active');
          if (!r) throw new KofnError('LAYOUT_UNKNOWN_RELAY', 'The layout names a storage server that is not registered or not in service.');
          return r;
        })
  );
  const down = chosen.filter((r) => r.publicKey === null || !isOnline(r.lastHeartbeat, ctx.config, now));
  if (down.length > 0) throw relaysDownError(down, chosen.length);
  return { layout, chosen };
}

/** True when a layout request has a group on another deployment (the reservation then reads the links). */
export function hasRemoteGroup(raw: unknown): boolean {
  const groups = typeof raw === 'object' && raw !== null ? (raw as { groups?: unknown }).groups : undefined;
  return Array.isArray(groups) && groups.some((g) => typeof g === 'object' && g !== null && (g as { kind?: unknown }).kind === 'remote');
}

/**
 * The manifest tree of a checked layout: group x's and relay x's drawn by `pickXs` (distinct, uniform,
 * random.ts). Relay x's are distinct over this deployment's relays (placements' (file, x) is unique), group
 * x's among the groups; the two sets are independent (different levels). A remote group gets its group x
 * here; its relays' x's are drawn by its own deployment.
 */
export function treeManifestFor(c: CheckedLayout, pickXs: (n: number) => number[]): { tree: TreeManifest; relayXs: number[]; groupXs: number[] } {
  const groupXs = pickXs(c.layout.groups.length);
  const relayXs = pickXs(c.chosen.length);
  let at = 0;
  const perRelayGroupX: number[] = [];
  const tree: TreeManifest = {
    kind: 'tree',
    k: c.layout.k,
    groups: c.layout.groups.map((g, gi): GroupManifest => {
      const label = g.label === undefined ? {} : { label: g.label };
      if (g.kind === 'remote') return { kind: 'remote', x: groupXs[gi]!, deployment: g.deployment, k: g.k, n: g.n, fileId: g.fileId, ...label };
      return {
        kind: 'local',
        x: groupXs[gi]!,
        k: g.k,
        ...label,
        relays: g.relays.map((relayId) => {
          perRelayGroupX.push(groupXs[gi]!);
          return { relayId, x: relayXs[at++]! };
        })
      };
    })
  };
  return { tree, relayXs, groupXs: perRelayGroupX };
}

/** Tree files (a stored manifest tree): renewed by groups (renewal.md, "Tree files"), never as one flat sharing. */
export function isTreeFile(file: { layout?: TreeManifest | null }): boolean {
  return file.layout !== null && file.layout !== undefined;
}

/**
 * Whether a stored manifest tree has a group on another deployment (federation.md): this coordinator holds
 * no token for that group's relays, and a tree's renewal must re-randomise every group together (the group
 * shares change), so such a file is not renewed (renewal.md, "Tree files").
 */
export function hasRemoteGroupIn(tree: TreeManifest): boolean {
  return tree.groups.some((g) => g.kind === 'remote');
}

/**
 * A tree file's sharing as renewal's check weights take it (shared treeParityWeights): K and, per group in
 * tree order, its point, k_g and its relays' x's in tree order. Only for a tree whose groups are all local.
 */
export function renewalSharing(tree: TreeManifest): TreeSharing {
  if (hasRemoteGroupIn(tree)) throw new KofnError('LAYOUT_NOT_SUPPORTED', 'Files with a group on another deployment are not renewed.');
  return { k: tree.k, groups: tree.groups.flatMap((g) => (g.kind === 'local' ? [{ x: g.x, k: g.k, xs: g.relays.map((r) => r.x) }] : [])) };
}

/**
 * The threshold of the sharing a placement's share belongs to: a flat file's k; for a tree file the k_g of
 * the placement's group (its share is a sub-share on that group's polynomial, so only k_g relays of the same
 * group rebuild it: repair and moves, docs/multilevel.md). Undefined for a group this deployment does not
 * hold.
 */
export function shareThreshold(file: { k: number; layout?: TreeManifest | null }, groupX: number | null): number | undefined {
  if (!file.layout) return file.k;
  const group = file.layout.groups.find((g) => g.kind === 'local' && g.x === groupX);
  return group?.k;
}

/** Whether two placements' shares lie on the same polynomial: any two of a flat file, a tree file's within one group. */
export function sameSharing(file: { layout?: TreeManifest | null }, a: { groupX: number | null }, b: { groupX: number | null }): boolean {
  return !file.layout || a.groupX === b.groupX;
}

/**
 * Renames relay `from` to `to` in a tree file's manifest (a move, an upload's failover: the placement changed in
 * the same transaction), the manifest read again under the row's lock: another relay of the same file may
 * have moved since the caller read the file. A flat file has none.
 */
export async function moveRelayInTree(tx: Tx, fileId: string, from: string, to: string): Promise<void> {
  const [row] = await tx.select({ layout: files.layout }).from(files).where(eq(files.id, fileId)).for('update');
  if (row?.layout)
    await tx
      .update(files)
      .set({ layout: withRelayMoved(row.layout, from, to) })
      .where(eq(files.id, fileId));
}

/** How a refusal names a group of relays by its label. */
export function groupName(label: string | null): string {
  return label === null ? 'of servers without a group' : `"${label}"`;
}
