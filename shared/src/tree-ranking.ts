/**
 * Retrieval of tree files (issue #21, docs/multilevel.md): which relays to read, and what to do when one
 * fails. Used by the browser (web/src/lib/engine/retrieve.ts) and the command line (cli/retrieve.ts), each
 * keeping its `active` relays (read for every chunk) and its ranked `spares`;
 * for a flat file those are the k fastest relays and the rest. For a tree file:
 *
 * - active = the K fastest groups, and in each the k_g fastest relays. A group is as fast as its k_g-th
 *   fastest relay (it gives its share only when k_g of them answered); a group with fewer than k_g relays
 *   answering the ping ranks last.
 * - spares = first the other relays of the active groups (fastest first), then the other groups' relays,
 *   group by group in rank order: adding spares after a failed tag (retrieve.ts) so first brings a second
 *   candidate share into an active group, then whole groups.
 * - a failed active relay is replaced by a spare of its own group; when its group has none left, the
 *   whole group leaves `active` and the best spare group with k_g relays left comes in.
 */
import type { TreeManifest } from './layout.js';

/** What ranking reads of a placement: its group's x (tree files place every relay in a group). */
interface Placement {
  groupX?: number;
}
/** What ranking reads of a manifest: its tree and its placements. */
interface TreeFile<P extends Placement> {
  layout?: TreeManifest | undefined;
  placements: readonly P[];
}

/** Fills `active` and `spares` (both emptied first) for a tree manifest; `times` are the ping times in placement order. */
export function rankTree<P extends Placement>(m: TreeFile<P>, times: readonly number[], active: P[], spares: P[]): void {
  const tree = m.layout;
  if (!tree) throw new Error('rankTree needs a tree manifest');
  const timeOf = new Map(m.placements.map((p, i) => [p, times[i]!]));
  const groups = tree.groups.map((g) => {
    const relays = m.placements.filter((p) => p.groupX === g.x).sort((a, b) => timeOf.get(a)! - timeOf.get(b)!);
    const kth = relays[g.k - 1];
    return { k: g.k, relays, speed: kth === undefined ? Infinity : timeOf.get(kth)! };
  });
  groups.sort((a, b) => a.speed - b.speed);
  active.length = 0;
  spares.length = 0;
  const chosen = groups.slice(0, tree.k);
  for (const g of chosen) active.push(...g.relays.slice(0, g.k));
  for (const g of chosen) spares.push(...g.relays.slice(g.k));
  for (const g of groups.slice(tree.k)) spares.push(...g.relays);
}

/**
 * Takes `relay` out of `active` (a tree manifest's), in place: a spare of its group takes its place; with
 * none, its group's other active relays go back to the spares and the first spare group with k_g relays
 * left comes in. False when no group can: fewer than K groups are left.
 */
export function replaceInTree<P extends Placement>(m: TreeFile<P>, active: P[], spares: P[], relay: P): boolean {
  const tree = m.layout;
  if (!tree) throw new Error('replaceInTree needs a tree manifest');
  const at = active.indexOf(relay);
  if (at < 0) return true;
  const same = spares.findIndex((p) => p.groupX === relay.groupX);
  if (same >= 0) {
    active[at] = spares[same]!;
    spares.splice(same, 1);
    return true;
  }
  // The group cannot give its share any more: its other relays become spares (last), the group leaves.
  const rest = active.filter((p) => p.groupX === relay.groupX && p !== relay);
  for (let i = active.length - 1; i >= 0; i--) if (active[i]!.groupX === relay.groupX) active.splice(i, 1);
  const activeGroups = new Set(active.map((p) => p.groupX));
  for (const g of [...new Set(spares.map((p) => p.groupX))]) {
    if (activeGroups.has(g)) continue;
    const k = tree.groups.find((t) => t.x === g)?.k ?? Infinity;
    const members = spares.filter((p) => p.groupX === g);
    if (members.length < k) continue;
    const take = members.slice(0, k);
    active.push(...take);
    for (const p of take) spares.splice(spares.indexOf(p), 1);
    spares.push(...rest);
    return true;
  }
  spares.push(...rest);
  return false;
}
