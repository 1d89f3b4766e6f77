/**
 * Multi-level layouts (issue #21, docs/multilevel.md): how a file is spread over groups of relays.
 *
 * A flat file is (k, n) over n relays. A tree file is (K, G) over G groups, and each group g is
 * (k_g, n_g) over its own relays: the record is Shamir-split into G group shares (x = the group's x),
 * and each group share is split again over the group's relays (x = the relay's x). Any K groups with
 * k_g relays each rebuild it; fewer groups, or fewer relays in a group, learn nothing of that level.
 *
 * Two shapes: a `LayoutRequest` is what a client asks for (relay ids, thresholds); a `TreeManifest` is
 * what the coordinator stores and answers once it has drawn every x (the manifest tree). Groups have a
 * `kind`: 'local' groups are relays of this deployment; 'remote' groups (another kofn deployment, issue
 * #21 part 2, federation, docs/federation.md) name the linked deployment and the sub-file the browser
 * reserved there; this module checks their shape, the coordinator checks the deployment is linked.
 */
import { KofnError } from './errors.js';
import { MAX_SHARES } from './shamir.js';
import { FILE_ID_PATTERN } from './ids.js';

/** A group of this deployment's relays, as a client asks for it. */
export interface LocalGroupRequest {
  kind: 'local';
  /** k_g: how many of this group's relays rebuild the group's share (2..relays.length). */
  k: number;
  /** Relay ids of this deployment; each relay at most once in the whole layout. */
  relays: string[];
  /** A display name (e.g. the relays' group label "cloud A"); not used by any check. */
  label?: string;
}

/**
 * A group on another kofn deployment (federation, issue #21 part 2): the browser reserves the sub-file there
 * first (the remote coordinator picks its relays and their x's), then names it here, so this coordinator
 * records where the group lives without ever holding a token of the other side.
 */
export interface RemoteGroupRequest {
  kind: 'remote';
  /** The linked deployment's id (its `deploymentId`, as `GET /api/federation/remotes` lists it). */
  deployment: string;
  k: number;
  /** How many of the remote deployment's relays take a sub-share (the remote coordinator picks them). */
  n: number;
  /** The sub-file's id at the remote deployment (32 hex digits). */
  fileId: string;
  label?: string;
}

export type GroupRequest = LocalGroupRequest | RemoteGroupRequest;

export interface LayoutRequest {
  kind: 'tree';
  /** K: how many groups rebuild the file (2..groups.length). */
  k: number;
  groups: GroupRequest[];
}

/** One relay of a stored tree: its id and its x within its group (distinct over the whole file). */
export interface TreeRelay {
  relayId: string;
  x: number;
}

export interface LocalGroupManifest {
  kind: 'local';
  /** The group's x at the top level (1..255, distinct over the file's groups). */
  x: number;
  k: number;
  label?: string;
  relays: TreeRelay[];
}

export interface RemoteGroupManifest {
  kind: 'remote';
  x: number;
  deployment: string;
  k: number;
  n: number;
  /** The sub-file at the remote deployment: its relays, and their x's, are known there only. */
  fileId: string;
  label?: string;
}

export type GroupManifest = LocalGroupManifest | RemoteGroupManifest;

/** The manifest tree of a file: top threshold K and its groups with every x. */
export interface TreeManifest {
  kind: 'tree';
  k: number;
  groups: GroupManifest[];
}

/**
 * A tree's manifest with one relay replaced by another at the same place and x (a relay move or an upload's
 * failover to a spare of the same group: the coordinator's tree-layouts.ts, the browser's protect.ts).
 */
export function withRelayMoved(tree: TreeManifest, from: string, to: string): TreeManifest {
  return { ...tree, groups: tree.groups.map((g) => (g.kind === 'local' ? { ...g, relays: g.relays.map((r) => (r.relayId === from ? { ...r, relayId: to } : r)) } : g)) };
}

/** At most this many groups: group x's are distinct non-zero bytes. */
export const MAX_GROUPS = MAX_SHARES;

const invalid = (message: string) => new KofnError('LAYOUT_INVALID', message);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function threshold(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(`${where}: "k" expected an integer.`);
  return v;
}

function label(v: unknown, where: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > 100) throw invalid(`${where}: "label" expected text of at most 100 characters.`);
  return v;
}

/**
 * Checks a layout as a client sent it (JSON) and answers it typed. Every rule has its own code, so a
 * client (and a test) can tell which one failed: LAYOUT_INVALID (shape), LAYOUT_EMPTY_GROUP,
 * LAYOUT_GROUP_THRESHOLD (k_g < 2 or k_g > n_g: the plain mode's rule, per group), LAYOUT_TOP_THRESHOLD
 * (K < 2 or K > G), LAYOUT_RELAY_TWICE (a relay in two places: it would hold two sub-shares, and one
 * relay would count twice toward the thresholds it is meant to be one of), LAYOUT_ONE_DEPLOYMENT (groups on
 * other deployments, and one deployment holding K groups: `oneDeploymentShort`). Relays' existence is the
 * coordinator's check (LAYOUT_UNKNOWN_RELAY).
 */
export function checkLayoutRequest(raw: unknown): LayoutRequest {
  const layout = parseLayout(raw);
  oneDeploymentShort(layout.groups, layout.k);
  return layout;
}

/** The rules every layout keeps, a new one or a stored one (the deployments rule binds new files only). */
function parseLayout(raw: unknown): LayoutRequest {
  if (!isRecord(raw) || raw.kind !== 'tree') throw invalid('"layout" expected { kind: "tree", k, groups }.');
  const K = threshold(raw.k, 'layout');
  if (!Array.isArray(raw.groups) || raw.groups.length === 0) throw invalid('"layout.groups" expected a non-empty array.');
  if (raw.groups.length > MAX_GROUPS) throw invalid(`"layout.groups" expected at most ${MAX_GROUPS} groups.`);
  const seen = new Set<string>();
  let total = 0;
  const groups = raw.groups.map((g: unknown, i): GroupRequest => {
    const where = `group ${i + 1}`;
    if (!isRecord(g)) throw invalid(`${where}: expected an object.`);
    const k = threshold(g.k, where);
    const name = label(g.label, where);
    let n: number;
    let out: GroupRequest;
    if (g.kind === 'local') {
      if (!Array.isArray(g.relays) || g.relays.some((r) => typeof r !== 'string' || r.length === 0 || r.length > 100)) throw invalid(`${where}: "relays" expected relay ids.`);
      const relays = g.relays as string[];
      for (const r of relays) {
        if (seen.has(r)) throw new KofnError('LAYOUT_RELAY_TWICE', `A storage server appears twice in the layout (${where}).`);
        seen.add(r);
      }
      n = relays.length;
      out = { kind: 'local', k, relays: [...relays], ...(name === undefined ? {} : { label: name }) };
    } else if (g.kind === 'remote') {
      if (typeof g.deployment !== 'string' || g.deployment.length === 0 || g.deployment.length > 100) throw invalid(`${where}: "deployment" expected a linked deployment's id.`);
      if (typeof g.n !== 'number' || !Number.isInteger(g.n) || g.n < 0) throw invalid(`${where}: "n" expected an integer.`);
      if (typeof g.fileId !== 'string' || !FILE_ID_PATTERN.test(g.fileId)) throw invalid(`${where}: "fileId" expected the sub-file's id at that deployment (32 hex digits).`);
      n = g.n;
      out = { kind: 'remote', deployment: g.deployment, k, n, fileId: g.fileId, ...(name === undefined ? {} : { label: name }) };
    } else {
      throw invalid(`${where}: "kind" expected "local" or "remote".`);
    }
    if (n === 0) throw new KofnError('LAYOUT_EMPTY_GROUP', `${where} has no storage servers.`);
    if (k < 2 || k > n) throw new KofnError('LAYOUT_GROUP_THRESHOLD', `${where}: its threshold must be 2..${n} (the number of its storage servers), got ${k}.`);
    total += n;
    return out;
  });
  if (K < 2 || K > groups.length) throw new KofnError('LAYOUT_TOP_THRESHOLD', `The number of groups needed must be 2..${groups.length} (the number of groups), got ${K}.`);
  // Relay x's are distinct over the whole file (one byte each), so a file has at most 255 relays.
  if (total > MAX_SHARES) throw invalid(`A layout places at most ${MAX_SHARES} sub-shares, got ${total}.`);
  return { kind: 'tree', k: K, groups };
}

/**
 * Issue #21: a file with groups on other deployments is there so that no single coordinator (and no single
 * organisation or site) can rebuild it. A deployment's coordinator can mint tokens for all of its own relays,
 * so one holding K groups (this deployment's local groups, or two groups on the same other deployment) could
 * rebuild the file alone: refused. Layouts of this deployment only have no such promise to keep.
 */
function oneDeploymentShort(groups: GroupRequest[], K: number): void {
  if (!groups.some((g) => g.kind === 'remote')) return;
  const held = new Map<string, number>();
  for (const g of groups) {
    const where = g.kind === 'local' ? 'this deployment' : `deployment ${g.deployment}`;
    held.set(where, (held.get(where) ?? 0) + 1);
  }
  for (const [where, count] of held) {
    if (count >= K) {
      throw new KofnError(
        'LAYOUT_ONE_DEPLOYMENT',
        `The storage servers of ${where} would hold ${count} of the ${K} groups needed, so it alone could rebuild the file. Need more groups than any one deployment holds (at least ${count + 1}).`
      );
    }
  }
}

/**
 * Checks a stored or received manifest tree: thresholds and counts as in checkLayoutRequest, and every x
 * (group x's among groups, relay x's over the whole file) a distinct byte in 1..255. Not the deployments
 * rule: files stored before it came stay readable.
 */
export function checkTreeManifest(raw: unknown): TreeManifest {
  if (!isRecord(raw) || raw.kind !== 'tree' || !Array.isArray(raw.groups)) throw invalid('Manifest tree expected { kind: "tree", k, groups }.');
  const request = parseLayout({
    kind: 'tree',
    k: raw.k,
    groups: raw.groups.map((g: unknown) => (isRecord(g) && g.kind === 'local' && Array.isArray(g.relays) ? { ...g, relays: g.relays.map((r: unknown) => (isRecord(r) ? r.relayId : r)) } : g))
  });
  const groupXs = new Set<number>();
  const relayXs = new Set<number>();
  const byte = (v: unknown, seen: Set<number>, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 255 || seen.has(v)) throw invalid(`Manifest tree: ${what} x expected distinct integers 1..255.`);
    seen.add(v);
    return v;
  };
  const groups = (raw.groups as Array<Record<string, unknown>>).map((g, i): GroupManifest => {
    const req = request.groups[i]!;
    const x = byte(g.x, groupXs, 'group');
    const name = req.label === undefined ? {} : { label: req.label };
    if (req.kind === 'remote') return { kind: 'remote', x, deployment: req.deployment, k: req.k, n: req.n, fileId: req.fileId, ...name };
    const relays = (g.relays as Array<Record<string, unknown>>).map((r) => ({ relayId: r.relayId as string, x: byte(r.x, relayXs, 'relay') }));
    return { kind: 'local', x, k: req.k, relays, ...name };
  });
  return { kind: 'tree', k: request.k, groups };
}

/** The relays of a tree's local groups, in group order then relay order (the order of share chunks). */
export function treeRelays(tree: TreeManifest): Array<TreeRelay & { groupX: number; groupK: number }> {
  return tree.groups.flatMap((g) => (g.kind === 'local' ? g.relays.map((r) => ({ ...r, groupX: g.x, groupK: g.k })) : []));
}

/** Number of sub-shares (relays) a tree places, remote groups included. */
export function treeRelayCount(tree: TreeManifest | LayoutRequest): number {
  return tree.groups.reduce((sum, g) => sum + (g.kind === 'local' ? g.relays.length : g.n), 0);
}
