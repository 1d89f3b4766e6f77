/**
 * Multi-level sharing on the coordinator (issue #21, shared/docs/multilevel.md): a reservation may carry a
 * `layout` (K over groups of this deployment's relays, each with its own k_g). This module checks it
 * against the relays the coordinator knows and draws the tree's x's; reservations.ts stores the manifest
 * tree on the file row (`files.layout`) and one placement per relay (with its group's x), so every path
 * that works per placement (tokens, commit's per-relay checks, removal everywhere) covers tree files
 * unchanged. Renewal and repair skip tree files (see `isTreeFile`): their per-relay arithmetic is for one
 * flat sharing, and applied to a sub-share it would corrupt the file.
 */
import { KofnError, checkLayoutRequest, type LayoutRequest, type LocalGroupRequest, type TreeManifest } from '@kofn/shared';
import type { relays } from './db/schema.js';
import { isOnline, type Ctx } from './file-access.js';

type RelayRow = typeof relays.$inferSelect;

export interface CheckedLayout {
  layout: Omit<LayoutRequest, 'groups'> & { groups: LocalGroupRequest[] };
  /** The relay rows in tree order: groups in order, each group's relays in order. */
  chosen: RelayRow[];
}

/**
 * Checks a reservation's layout: its shape and thresholds (shared/src/layout.ts, one code per rule), then
 * that every relay is one of ours in service (LAYOUT_UNKNOWN_RELAY) and online with its key pinned
 * (RELAYS_OFFLINE, naming them), and that no group is on another deployment (LAYOUT_NOT_SUPPORTED: issue
 * #21 part 2, federation, is not served here yet).
 */
export function checkTreeLayout(ctx: Ctx, raw: unknown, all: RelayRow[], now: Date): CheckedLayout {
  const layout = checkLayoutRequest(raw);
  const groups = layout.groups.map((g) => {
    if (g.kind !== 'local') throw new KofnError('LAYOUT_NOT_SUPPORTED', 'Groups on other deployments are not supported by this coordinator yet.');
    return g;
  });
  const chosen = groups.flatMap((g) =>
    g.relays.map((id) => {
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
  return { layout: { ...layout, groups }, chosen };
}

/**
 * The manifest tree of a checked layout: group x's and relay x's drawn by `pickXs` (distinct, uniform,
 * random.ts). Relay x's are distinct over the whole file (placements' (file, x) is unique), group x's
 * among the groups; the two sets are independent (different levels).
 */
export function treeManifestFor(c: CheckedLayout, pickXs: (n: number) => number[]): { tree: TreeManifest; relayXs: number[]; groupXs: number[] } {
  const groupXs = pickXs(c.layout.groups.length);
  const relayXs = pickXs(c.chosen.length);
  let at = 0;
  const perRelayGroupX: number[] = [];
  const tree: TreeManifest = {
    kind: 'tree',
    k: c.layout.k,
    groups: c.layout.groups.map((g, gi) => ({
      kind: 'local',
      x: groupXs[gi]!,
      k: g.k,
      ...(g.label === undefined ? {} : { label: g.label }),
      relays: g.relays.map((relayId) => {
        perRelayGroupX.push(groupXs[gi]!);
        return { relayId, x: relayXs[at++]! };
      })
    }))
  };
  return { tree, relayXs, groupXs: perRelayGroupX };
}

/** Tree files (a stored manifest tree) are left alone by renewal and repair (docs/multilevel.md). */
export function isTreeFile(file: { layout?: TreeManifest | null }): boolean {
  return file.layout !== null && file.layout !== undefined;
}
