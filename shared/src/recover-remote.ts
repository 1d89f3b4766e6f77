/**
 * Offline recovery of tree files with a group on another deployment (issue #21 part 2; format.md, "Groups on
 * other deployments"). Such a group's sub-shares sit on the other deployment X's relays as an ordinary flat
 * file of X: version-1 headers under X's sub-file id and X's epoch, bytes 36..39 zero (web engine
 * remote-chunks.ts writes them so; X's renewal and repair then treat it as any file). Nothing stored on
 * either deployment's relays says which home file a sub-file belongs to or at which group x: only the home
 * coordinator's manifest tree does, and offline recovery has no coordinator.
 *
 * So the link is found by trying, and proven by the home file's own tag: a flat file of the same shape as
 * the tree file (chunk 0's flags and length, chunk count) is lifted to version 3 at a candidate group x
 * (the home file's id and epoch, K), and the metadata chunk is decoded with exactly K groups: it
 * authenticates (GMAC over the record, the key inside it; format.md) only when the sub-file is that group
 * and x is its group x, except with probability about 2^-128 per try. A tree file keeps its group x's
 * secret from no one (they are in every local header), so the tries cover the other values of 1..255.
 */
import { FORMAT_VERSION, flatHeaderToTree } from './chunk-format.js';
import { KofnError, hasErrorCode } from './errors.js';
import { fileIdFromHex } from './ids.js';
import { TreeDecoder } from './multilevel.js';

/** One stored share chunk as the recovery index knows it (recover.ts). */
export interface IndexedChunk {
  path: string;
  relayDir: string;
  x: number;
  /** k, or k_g for a tree file's sub-share. */
  k: number;
  epoch: number;
  flags: number;
  bodyLength: number;
  /** 1 Shamir, 2 compact, 3 tree. */
  version: number;
  /** Tree files only: the relay's group x and the top threshold K. */
  group?: { x: number; k: number };
}

/** How a sub-file's chunk is read as a sub-share of the home file (recover.ts applies it to each one it reads). */
export interface SubFileLift {
  subFileId: Uint8Array;
  subEpoch: number;
  homeFileId: Uint8Array;
  homeEpoch: number;
  groupX: number;
  K: number;
}

/**
 * A sub-file's share chunk made into the home tree's form, in place: version 3, the home file's id and epoch,
 * the group's x and K (the inverse of what the browser wrote for X; web remote-chunks.ts `fromRemoteChunk`
 * does the same for retrieval). Only a version-1 chunk of exactly that sub-file and epoch, with bytes 36..39
 * zero, is rewritten; any other is left as it is, so the tree decoder refuses it and names its relay folder.
 */
export function liftSubFileChunk(chunk: Uint8Array, lift: SubFileLift): Uint8Array {
  flatHeaderToTree(chunk, { fileId: lift.subFileId, epoch: lift.subEpoch }, { fileId: lift.homeFileId, epoch: lift.homeEpoch, groupX: lift.groupX, groupK: lift.K });
  return chunk;
}

/** A flat file (one epoch of it) that might be a remote group's sub-file. */
export interface SubFileCandidate {
  fileId: string;
  epoch: number;
  /** Its chunk-0 share chunks (this epoch). */
  chunk0: IndexedChunk[];
  /** Highest chunk index held (the chunk count, when complete). */
  lastIndex: number;
}

/** The home tree file's chunk 0 (one epoch), from its local groups' folders. */
export interface HomeFile {
  fileId: string;
  epoch: number;
  chunk0: IndexedChunk[];
  lastIndex: number;
}

export interface GroupHeld {
  x: number;
  /** k_g */
  k: number;
  /** Distinct relay x's held. */
  have: number;
  relayDirs: string[];
}

/** A remote group found: the sub-file (one epoch of it) and its group x, proven by chunk 0's tag. */
export interface FoundSubFile {
  fileId: string;
  epoch: number;
  groupX: number;
  k: number;
  relayDirs: string[];
}

/** What the folders hold of one tree file's groups: what the error names when fewer than K are complete. */
export interface GroupCensus {
  K: number;
  /** Local groups with k_g relays (chunk 0). */
  complete: GroupHeld[];
  /** Local groups with fewer. */
  incomplete: GroupHeld[];
  /** Remote groups found among the flat files. */
  found: FoundSubFile[];
  /** Flat files of the tree file's shape with fewer than k relays: maybe a remote group, too short to tell. */
  short: Array<{ fileId: string; k: number; have: number; relayDirs: string[] }>;
  /** Candidates tried and not proven (another file of the same shape, or a group of fewer than K). */
  unproven: string[];
  /** True when the joint search stopped at MAX_TRIES before trying every combination. */
  searchCut?: true;
}

/**
 * Most decodes of chunk 0 one home file may cost: one remote group needs at most 255 per candidate; two
 * missing at once need up to 255 x 254 per pair of candidates. Measured 0.55-1.3 ms per decode on this
 * 2-core machine at load 30 (one decode: combine both levels of a ~100-byte record and check its tag), so a
 * candidate costs at most about 0.3 s and the whole cap about a minute. The cap also bounds what decoy files
 * of the right shape in a hostile relay's folder can cost; the error then says the search was cut.
 */
export const MAX_TRIES = 70_000;

const distinct = (chunks: readonly IndexedChunk[]): number => new Set(chunks.map((c) => c.x)).size;
const dirsOf = (chunks: readonly IndexedChunk[]): string[] => [...new Set(chunks.map((c) => c.relayDir))].sort();
const majority = (values: number[]): number => {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0] ?? 0;
};

/** Same shape as the home file: chunk 0's flags and length, the chunk count, a flat Shamir sharing (k >= 2). */
export function sameShape(home: HomeFile, c: SubFileCandidate): boolean {
  const h0 = home.chunk0[0];
  if (!h0 || c.lastIndex !== home.lastIndex) return false;
  return c.chunk0.length > 0 && c.chunk0.every((s) => s.version === FORMAT_VERSION && s.flags === h0.flags && s.bodyLength === h0.bodyLength);
}

interface Group {
  x: number;
  chunks: Uint8Array[];
}

/**
 * Finds which candidates are remote groups of `home`, and at which group x. `read` answers a chunk's stored
 * bytes (a fresh copy each call: tries rewrite them). Candidates must have `sameShape`; the census says what
 * was found and what is missing.
 */
export async function findRemoteGroups(home: HomeFile, candidates: readonly SubFileCandidate[], read: (c: IndexedChunk) => Promise<Uint8Array>): Promise<GroupCensus> {
  const K = majority(home.chunk0.flatMap((c) => (c.group ? [c.group.k] : [])));
  const homeFileId = fileIdFromHex(home.fileId);
  const byGroup = new Map<number, IndexedChunk[]>();
  for (const c of home.chunk0) if (c.group?.k === K) byGroup.set(c.group.x, [...(byGroup.get(c.group.x) ?? []), c]);
  const census: GroupCensus = { K, complete: [], incomplete: [], found: [], short: [], unproven: [] };
  const known: Group[] = [];
  for (const [x, chunks] of [...byGroup].sort((a, b) => a[0] - b[0])) {
    const k = majority(chunks.map((c) => c.k));
    const held: GroupHeld = { x, k, have: distinct(chunks.filter((c) => c.k === k)), relayDirs: dirsOf(chunks) };
    if (held.have >= k) {
      census.complete.push(held);
      known.push({ x, chunks: await Promise.all(chunks.map(read)) });
    } else census.incomplete.push(held);
  }
  // Group x's are distinct over the file, so a remote group's x is none of the local ones.
  const free = new Set<number>();
  for (let x = 1; x <= 255; x++) if (!byGroup.has(x)) free.add(x);

  const pool: Array<SubFileCandidate & { k: number }> = [];
  for (const c of candidates) {
    const k = majority(c.chunk0.map((s) => s.k));
    if (distinct(c.chunk0.filter((s) => s.k === k)) >= k) pool.push({ ...c, k });
    else census.short.push({ fileId: c.fileId, k, have: distinct(c.chunk0.filter((s) => s.k === k)), relayDirs: dirsOf(c.chunk0) });
  }
  const decoder = new TreeDecoder();
  let tries = 0;
  const lifted = async (c: SubFileCandidate, x: number): Promise<Uint8Array[]> => {
    const lift = { subFileId: fileIdFromHex(c.fileId), subEpoch: c.epoch, homeFileId, homeEpoch: home.epoch, groupX: x, K };
    return (await Promise.all(c.chunk0.map(read))).map((b) => liftSubFileChunk(b, lift));
  };
  /** Decodes chunk 0 from exactly these groups; true when it authenticates. */
  const proves = async (groups: readonly Group[]): Promise<boolean> => {
    tries++;
    try {
      await decoder.decodeMetadata(
        groups.flatMap((g) => g.chunks),
        { fileId: homeFileId },
        { lenientText: true }
      );
      return true;
    } catch (err) {
      if (hasErrorCode(err)) return false;
      throw err;
    }
  };
  const setX = (g: Group, x: number): Group => {
    for (const b of g.chunks) b[36] = x;
    g.x = x;
    return g;
  };
  const accept = (c: SubFileCandidate & { k: number }, g: Group): void => {
    census.found.push({ fileId: c.fileId, epoch: c.epoch, groupX: g.x, k: c.k, relayDirs: dirsOf(c.chunk0) });
    known.push(g);
    free.delete(g.x);
  };
  const open = (): Array<SubFileCandidate & { k: number }> => pool.filter((c) => !census.found.some((f) => f.fileId === c.fileId));

  // One candidate at a time, with K-1 groups already known: at most 255 tries each. (With K or more known
  // the file needs no remote group; finding it anyway keeps its sub-file from being reported as a failed file.)
  const single = async (): Promise<void> => {
    for (const c of open()) {
      if (census.found.some((f) => f.fileId === c.fileId)) continue; // an older epoch of a sub-file already found
      const g: Group = { x: 0, chunks: await lifted(c, 0) };
      for (const x of [...free]) {
        if (tries >= MAX_TRIES) return;
        if (await proves([...known.slice(0, K - 1), setX(g, x)])) {
          accept(c, g);
          break;
        }
      }
    }
  };
  if (known.length >= K - 1) await single();
  else if (pool.length > 0) {
    // Fewer than K-1 known: `need` remote groups must be tried together (each alone cannot authenticate).
    const need = K - known.length;
    const chosen: Array<{ c: SubFileCandidate & { k: number }; g: Group }> = [];
    const ids = new Set<string>();
    const xs = new Set<number>();
    const search = async (from: number): Promise<boolean> => {
      if (chosen.length === need) return proves([...known, ...chosen.map((p) => p.g)]);
      for (let i = from; i < pool.length; i++) {
        const c = pool[i]!;
        if (ids.has(c.fileId)) continue;
        const g: Group = { x: 0, chunks: await lifted(c, 0) };
        ids.add(c.fileId);
        chosen.push({ c, g });
        for (const x of free) {
          if (xs.has(x)) continue;
          if (tries >= MAX_TRIES) break;
          xs.add(setX(g, x).x);
          const ok = await search(i + 1);
          xs.delete(x);
          if (ok) return true;
        }
        chosen.pop();
        ids.delete(c.fileId);
      }
      return false;
    };
    if (await search(0)) {
      for (const p of chosen) accept(p.c, p.g);
      await single();
    }
  }
  if (tries >= MAX_TRIES) census.searchCut = true;
  for (const c of open()) if (!census.unproven.includes(c.fileId)) census.unproven.push(c.fileId);
  return census;
}

/** The error of a tree file the folders cannot rebuild: what is held, and what is missing (format.md). */
export function notEnoughGroups(census: GroupCensus): KofnError {
  const group = (g: GroupHeld): string => `group ${g.x} (${g.have} of ${g.k} relays: ${g.relayDirs.join(', ')})`;
  const have = census.complete.length + census.found.length;
  const parts = [`needs ${census.K} groups with k_g relays each; these folders hold ${have}`];
  if (census.complete.length) parts.push(`complete here: ${census.complete.map(group).join('; ')}`);
  if (census.found.length) parts.push(`on another deployment: ${census.found.map((f) => `group ${f.groupX} as its file ${f.fileId} (${f.relayDirs.join(', ')})`).join('; ')}`);
  if (census.incomplete.length) parts.push(`too few relays: ${census.incomplete.map(group).join('; ')}`);
  if (census.short.length)
    parts.push(
      `files of this file's shape with too few relays to tell whether they are one of its groups on another deployment: ${census.short.map((s) => `${s.fileId} (${s.have} of ${s.k}: ${s.relayDirs.join(', ')})`).join('; ')}`
    );
  if (census.searchCut) parts.push(`stopped after ${MAX_TRIES} tries of group x's: add the folders of more groups`);
  const missing = census.K - have;
  parts.push(
    `add the relay folders of ${missing} more group${missing > 1 ? 's' : ''} (k_g relays each; a group kept on another deployment is a file of its own id on that deployment's relays: add those relays' folders)`
  );
  return new KofnError('NOT_ENOUGH_SHARES', `${parts.join('. ')}.`);
}
