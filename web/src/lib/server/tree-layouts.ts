/**
 * Multi-level sharing on the coordinator (issue #21, shared/docs/multilevel.md): a reservation may carry a
 * `layout` (K over groups of this deployment's relays, each with its own k_g). This module checks it
 * against the relays the coordinator knows and draws the tree's x's; reservations.ts stores the manifest
 * tree on the file row (`files.layout`) and one placement per relay (with its group's x), so every path
 * that works per placement (tokens, commit's per-relay checks, removal everywhere) covers tree files
 * unchanged. Renewal and repair skip tree files (see `isTreeFile`): their per-relay arithmetic is for one
 * flat sharing, and applied to a sub-share it would corrupt the file.
 */
import { KofnError, checkLayoutRequest, type GroupManifest, type LayoutRequest, type TreeManifest } from '@kofn/shared';
import type { federationRemotes, relays } from './db/schema.js';
import { isOnline, type Ctx } from './file-access.js';

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
  if (down.length > 0) {
    throw new KofnError(
      'RELAYS_OFFLINE',
      `Some storage servers necessary for the operation are not connected: ${down.map((r) => r.name).join(', ')}. All ${chosen.length} chosen servers are needed and ${chosen.length - down.length} are reachable.`
    );
  }
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

/** Tree files (a stored manifest tree) are left alone by renewal and repair (docs/multilevel.md). */
export function isTreeFile(file: { layout?: TreeManifest | null }): boolean {
  return file.layout !== null && file.layout !== undefined;
}
