/**
 * Offline recovery: rebuild every file from the stored share chunks of k relays alone, with no
 * coordinator. Share chunks are self-describing (header + metadata record), so the tool only needs the
 * relays' data folders; it recognises share chunks by their header, whatever the relay's folder layout,
 * and ignores anything else (temporary files, checksums, ids). Where a folder uses the disk relay's own
 * layout (`chunks/<id[0:2]>/<id>/<index>.<sha256>`), the path is a second witness: a chunk whose header
 * names another file or index, or whose bytes do not match the digest in its name, is dropped and
 * reported with its relay folder (shared/docs/format.md, "On-disk layout"). Node only.
 */
import { createHash } from 'node:crypto';
import { open, readdir, readFile, rename, mkdir, rm, writeFile, appendFile, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { KofnError, hasErrorCode } from './errors.js';
import { FLAG_FINAL, HEADER_BYTES, parseHeader } from './chunk-format.js';
import { FILE_ID_HEX, fileIdFromHex, fileIdToHex } from './ids.js';
import { ShareDecoder } from './codec.js';
import { TreeDecoder, looksLikeTree } from './multilevel.js';
import { contributionStorageId, epochStorageId, padsStorageId } from './epoch-ids.js';
import { findRemoteGroups, liftSubFileChunk, notEnoughGroups, sameShape, type FoundSubFile, type GroupCensus, type IndexedChunk, type SubFileCandidate, type SubFileLift } from './recover-remote.js';

export { contributionStorageId, epochStorageId, padsStorageId };

interface Located extends IndexedChunk {
  /**
   * Renewal epoch from the header (#15): a file is rebuilt from one epoch only, the newest that works. For a
   * remote group's sub-share (`lift`), the home file's epoch it is read at.
   */
  epoch: number;
  /** A remote group's sub-share, stored as a flat file of the other deployment: how to read it (recover-remote.ts). */
  lift?: SubFileLift;
}

/** A stored file that looked like a share chunk but was not used, and why. */
export interface DroppedShare {
  path: string;
  relayDir: string;
  reason: string;
}

export interface RecoveredFile {
  fileId: string;
  /** The authenticated name (U+FFFD where it was not valid UTF-8). */
  name?: string;
  /** Where the file was written; its base name may be shortened or replaced (see `renamed`). */
  path?: string;
  /** Why the saved name differs from `name`, when it does. */
  renamed?: string;
  size?: number;
  /** Share chunks found corrupt or forged while rebuilding, by path. */
  badShares: string[];
  /** Share chunks of this file refused before rebuilding (bad header, wrong place, digest mismatch). */
  droppedShares: DroppedShare[];
  /** Relay folders holding some chunks of this file but not these indexes (deleted or lost chunks). */
  missingChunks: Array<{ relayDir: string; indexes: number[] }>;
  error?: { code: string; message: string };
  /** The renewal epoch it was rebuilt from (#15), when the relays held more than one. */
  epoch?: number;
  /** Newer epochs that could not rebuild it (an unfinished renewal), with the reason. */
  skippedEpochs?: string[];
  /**
   * Tree files: its groups found on another deployment (a flat file of that deployment's relays, under its
   * own id), proven by chunk 0's tag (recover-remote.ts). Such a sub-file is not listed as a file of its own.
   */
  remoteGroups?: FoundSubFile[];
}

export interface RecoveryReport {
  files: RecoveredFile[];
  /** Files that start like a share chunk but are not one and cannot be attributed to a file. */
  unattributed: DroppedShare[];
  /** The JSON manifest written beside the recovered files (full names, saved names, problems). */
  manifestPath: string;
}

/**
 * Said of a Shamir file whose chunk 0 fails its tag with every subset: a remote group's sub-file looks exactly
 * so when its home file's folders are not given (recover-remote.ts).
 */
const MAYBE_SUB_FILE = "If it is a group of a multi-level file kept on this deployment for another one, add the relay folders of that file's other groups.";

/** Written into the output folder; a recovered file of the same name is saved under another name. */
export const MANIFEST_NAME = 'kofn-recover-manifest.json';
/** Most file systems limit a name to 255 bytes (ext4, XFS, APFS, NTFS in UTF-16 units). */
const MAX_NAME_BYTES = 255;
// The disk relay's layout: chunks/<first two hex digits>/<file id>/<index>.<sha256 hex>
const DISK_LAYOUT = new RegExp(String.raw`[\\/]chunks[\\/]([0-9a-f]{2})[\\/](${FILE_ID_HEX})[\\/](\d{1,10})\.([0-9a-f]{64})$`);

async function* walk(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

interface Index {
  /** fileId -> chunk index -> shares found. */
  files: Map<string, Map<number, Located[]>>;
  dropped: Map<string, DroppedShare[]>;
  unattributed: DroppedShare[];
}

function looksLikeShare(head: Uint8Array, n: number): boolean {
  return n >= 4 && head[0] === 0x4b && head[1] === 0x4f && head[2] === 0x46 && head[3] === 0x4e;
}

async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

async function indexShares(dirs: readonly string[]): Promise<Index> {
  const index: Index = { files: new Map(), dropped: new Map(), unattributed: [] };
  const head = new Uint8Array(HEADER_BYTES);
  const drop = (fileId: string | undefined, d: DroppedShare): void => {
    if (!fileId) return void index.unattributed.push(d);
    const list = index.dropped.get(fileId) ?? [];
    list.push(d);
    index.dropped.set(fileId, list);
  };
  for (const relayDir of dirs) {
    for await (const path of walk(relayDir)) {
      const layout = DISK_LAYOUT.exec(path);
      const [, prefix, storedId] = layout ?? [];
      const pathId = storedId !== undefined && prefix !== undefined && storedId.startsWith(prefix) ? storedId : undefined;
      const fh = await open(path, 'r');
      let size: number;
      let n: number;
      try {
        size = (await fh.stat()).size;
        ({ bytesRead: n } = await fh.read(head, 0, HEADER_BYTES, 0));
      } finally {
        await fh.close();
      }
      // Anything that neither sits in the relay's chunk layout nor starts with the magic is not a share.
      if (!looksLikeShare(head, n)) {
        if (pathId) drop(pathId, { path, relayDir, reason: 'not a share chunk (bad magic or empty)' });
        continue;
      }
      const h = n === HEADER_BYTES ? parseHeaderOfSize(head, size) : { error: 'truncated header' };
      if ('error' in h) {
        // Spool and temporary files outside the layout (the disk relay's `tmp/*.part`, hidden files) are
        // expected leftovers of interrupted uploads, never acknowledged: not lost shares.
        if (pathId) drop(pathId, { path, relayDir, reason: h.error });
        else if (!basename(path).startsWith('.') && !path.endsWith('.part')) index.unattributed.push({ path, relayDir, reason: h.error });
        continue;
      }
      const id = fileIdToHex(h.header.fileId);
      if (layout) {
        // A renewed epoch lives under its derived id (epoch-ids.ts); a dealer's contribution in flight (or the
        // check pads it sent) is not a share of any epoch and is skipped without a report.
        if (pathId !== undefined && pathId !== id && isContribution(pathId, id, h.header.epoch)) continue;
        if (pathId !== epochStorageId(id, h.header.epoch) || Number(layout[3]) !== h.header.index) {
          drop(pathId ?? id, { path, relayDir, reason: `header says file ${id} chunk ${h.header.index}, but it is stored as file ${layout[2]} chunk ${layout[3]}` });
          continue;
        }
        if ((await sha256File(path)) !== layout[4]) {
          drop(id, { path, relayDir, reason: 'bytes do not match the digest in its name (bit rot or tampering)' });
          continue;
        }
      }
      const chunks = index.files.get(id) ?? new Map<number, Located[]>();
      const list = chunks.get(h.header.index) ?? [];
      const { header } = h;
      const version = header.group ? 3 : header.mode === undefined ? 1 : 2;
      list.push({ path, relayDir, x: header.x, k: header.k, epoch: header.epoch, flags: header.flags, bodyLength: header.bodyLength, version, ...(header.group ? { group: header.group } : {}) });
      chunks.set(h.header.index, list);
      index.files.set(id, chunks);
    }
  }
  return index;
}

function isContribution(pathId: string, fileId: string, epoch: number): boolean {
  if (epoch === 0) return false;
  // A dealer's check pads (kept beside its contributions until the check) are renewal state, not a share either.
  for (let d = 1; d <= 255; d++) if (contributionStorageId(fileId, epoch, d) === pathId || padsStorageId(fileId, epoch, d) === pathId) return true;
  return false;
}

function parseHeaderOfSize(head: Uint8Array, size: number): { header: ReturnType<typeof parseHeader> } | { error: string } {
  const declared = new DataView(head.buffer, head.byteOffset, HEADER_BYTES).getUint32(32);
  if (declared + HEADER_BYTES !== size) return { error: `length ${size} does not match the header's body length ${declared} (truncated or extended)` };
  const probe = new Uint8Array(HEADER_BYTES + declared);
  probe.set(head);
  try {
    return { header: parseHeader(probe) };
  } catch (err) {
    return { error: hasErrorCode(err) ? err.message : 'malformed header' };
  }
}

/** A file name safe to create inside `outDir`: no separators, no control characters, never "." or "..". */
export function safeFileName(name: string, fallback: string): string {
  const cleaned = basename(name.replace(/[\\/]/g, '_'))
    .replace(/[\p{Cc}\p{Cf}]/gu, '_')
    .trim();
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? fallback : cleaned;
}

const utf8Length = (s: string): number => new TextEncoder().encode(s).length;

/** Cuts `s` to at most `max` UTF-8 bytes on a code point boundary (never half a character). */
function cutUtf8(s: string, max: number): string {
  let out = '';
  let used = 0;
  for (const ch of s) {
    const n = utf8Length(ch);
    if (used + n > max) break;
    out += ch;
    used += n;
  }
  return out;
}

/**
 * Fits a safe name into 255 UTF-8 bytes: keeps a short extension, cuts the stem on a character
 * boundary and adds `~` and the file id's first 8 digits, so two long names sharing a prefix differ.
 */
export function fitFileName(name: string, fileId: string): string {
  if (utf8Length(name) <= MAX_NAME_BYTES) return name;
  const ext = extname(name);
  const keepExt = utf8Length(ext) <= 16 ? ext : '';
  const suffix = `~${fileId.slice(0, 8)}${keepExt}`;
  return cutUtf8(name.slice(0, name.length - keepExt.length), MAX_NAME_BYTES - utf8Length(suffix)) + suffix;
}

function missingChunks(chunks: Map<number, Located[]>, dirs: readonly string[], count: number): RecoveredFile['missingChunks'] {
  const out: RecoveredFile['missingChunks'] = [];
  for (const relayDir of dirs) {
    const held = new Set<number>();
    for (const [i, list] of chunks) if (list.some((l) => l.relayDir === relayDir)) held.add(i);
    if (held.size === 0) continue; // this relay never held the file
    const indexes: number[] = [];
    for (let i = 0; i <= count; i++) if (!held.has(i)) indexes.push(i);
    if (indexes.length > 0) out.push({ relayDir, indexes });
  }
  return out;
}

/** A stored chunk's bytes; a remote group's sub-share comes back in the home tree's form (recover-remote.ts). */
async function readChunk(l: Located): Promise<Uint8Array> {
  const bytes = await readFile(l.path);
  return l.lift ? liftSubFileChunk(bytes, l.lift) : bytes;
}

/** One file to rebuild: its shares, what was dropped of it, where to write it and the names already taken. */
interface Recovery {
  id: string;
  chunks: Map<number, Located[]>;
  dropped: DroppedShare[];
  dirs: readonly string[];
  outDir: string;
  /** Saved names in use; a rebuilt file adds its own. */
  taken: Set<string>;
  /** A tree file's groups found in the folders (recover-remote.ts), to explain a shortfall of groups. */
  census?: GroupCensus;
}

async function recoverOne({ id, chunks, dropped, dirs, outDir, taken, census }: Recovery): Promise<RecoveredFile> {
  const result: RecoveredFile = { fileId: id, badShares: [], droppedShares: dropped, missingChunks: [] };
  let metaRead = false;
  const fileId = fileIdFromHex(id);
  const read = async (index: number): Promise<{ list: Located[]; shares: Uint8Array[] }> => {
    const list = chunks.get(index) ?? [];
    return { list, shares: await Promise.all(list.map(readChunk)) };
  };
  let tmp: string | undefined;
  try {
    const m0 = await read(0);
    // ---- multi-level hook (issue #21, docs/multilevel.md): a tree file's share chunks are version 3 ----
    const decoder = looksLikeTree(m0.shares) ? new TreeDecoder() : new ShareDecoder();
    const meta = await decoder.decodeMetadata(m0.shares, { fileId }, { lenientText: true });
    metaRead = true;
    for (const b of meta.bad) result.badShares.push(m0.list[b]!.path);
    result.missingChunks = missingChunks(chunks, dirs, meta.meta.chunkCount);
    result.name = meta.meta.name;
    result.size = meta.meta.size;
    let name = meta.meta.textRepaired ? id : fitFileName(safeFileName(meta.meta.name, id), id);
    if (taken.has(name)) name = fitFileName(`${name}.${id.slice(0, 8)}`, id);
    taken.add(name);
    if (meta.meta.textRepaired) result.renamed = 'its authenticated name is not valid UTF-8; saved under its file id';
    else if (name !== meta.meta.name) result.renamed = 'its name is unsafe, too long for the file system or already taken';
    tmp = join(outDir, `.${id}.partial`);
    await writeFile(tmp, new Uint8Array(0));
    for (let i = 1; i <= meta.meta.chunkCount; i++) {
      const c = await read(i);
      const d = await decoder.decodeData(c.shares, { fileId, index: i, epoch: meta.epoch, k: meta.k });
      for (const b of d.bad) result.badShares.push(c.list[b]!.path);
      // format.md: chunk i carries min(chunk size, what is left) bytes, and only the last one is FINAL.
      const expectedLength = Math.min(meta.meta.chunkSize, meta.meta.size - (i - 1) * meta.meta.chunkSize);
      if (d.data.length !== expectedLength || (d.flags & FLAG_FINAL) !== (i === meta.meta.chunkCount ? FLAG_FINAL : 0)) {
        throw new KofnError('STREAM_TRUNCATED', `Chunk ${i} has ${d.data.length} bytes or a FINAL flag that the metadata does not allow.`);
      }
      await appendFile(tmp, d.data);
    }
    // Only a fully authenticated file gets its real name.
    result.path = join(outDir, name);
    await rename(tmp, result.path);
    tmp = undefined;
  } catch (err) {
    result.error = hasErrorCode(err) ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: (err as Error).message };
    // A tree file short of K groups: say which groups the folders hold and what to add (recover-remote.ts).
    if (census && !metaRead && result.error.code === 'NOT_ENOUGH_SHARES' && census.complete.length + census.found.length < census.K) {
      const e = notEnoughGroups(census);
      result.error = { code: e.code, message: e.message };
    }
  } finally {
    if (tmp) await rm(tmp, { force: true });
  }
  return result;
}

/**
 * #15: relays may hold two epochs of a file during a renewal (or an old one whose drop never ran). Shares
 * of different epochs never combine, so each epoch is tried on its own, newest first; the first that
 * rebuilds wins, and the report says which epochs were skipped.
 */
async function recoverNewestEpoch(file: Recovery): Promise<RecoveredFile> {
  const { chunks, taken } = file;
  const epochs = [...new Set([...chunks.values()].flat().map((l) => l.epoch))].sort((a, b) => b - a);
  if (epochs.length <= 1) return recoverOne(file);
  let last: RecoveredFile | undefined;
  const skipped: string[] = [];
  for (const epoch of epochs) {
    const only = new Map<number, Located[]>();
    for (const [i, list] of chunks) {
      const mine = list.filter((l) => l.epoch === epoch);
      if (mine.length) only.set(i, mine);
    }
    // A failed attempt must not reserve the saved name for the next one.
    const names = new Set(taken);
    last = await recoverOne({ ...file, chunks: only, taken: names });
    last.epoch = epoch;
    if (skipped.length) last.skippedEpochs = [...skipped];
    if (!last.error) {
      for (const n of names) taken.add(n);
      break;
    }
    skipped.push(`epoch ${epoch}: ${last.error.code} (${last.error.message})`);
  }
  if (last === undefined) throw new KofnError('INTERNAL', 'No epoch was tried.');
  return last;
}

/** Chunk 0 of one epoch and the highest index held in it: what tells a file's shape (recover-remote.ts). */
function epochsOf(chunks: Map<number, Located[]>): Array<{ epoch: number; chunk0: Located[]; lastIndex: number }> {
  const epochs = [...new Set((chunks.get(0) ?? []).map((l) => l.epoch))].sort((a, b) => b - a);
  return epochs.map((epoch) => {
    let lastIndex = 0;
    for (const [i, list] of chunks) if (i > lastIndex && list.some((l) => l.epoch === epoch)) lastIndex = i;
    return { epoch, chunk0: (chunks.get(0) ?? []).filter((l) => l.epoch === epoch), lastIndex };
  });
}

/**
 * Issue #21 part 2: finds, for every tree file, its groups kept on another deployment among the flat files
 * of the same shape, and adds their chunks to the tree file's, read as its sub-shares (`lift`). Answers
 * each tree file's census and the sub-files taken (not recovered as files of their own).
 */
async function joinRemoteGroups(index: Index): Promise<{ censuses: Map<string, GroupCensus>; subFiles: Set<string>; flat: Set<string> }> {
  const censuses = new Map<string, GroupCensus>();
  const subFiles = new Set<string>();
  const flat = new Set<string>();
  const candidates: SubFileCandidate[] = [];
  const homes: Array<{ fileId: string; epochs: ReturnType<typeof epochsOf> }> = [];
  for (const [fileId, chunks] of [...index.files].sort((a, b) => a[0].localeCompare(b[0]))) {
    const chunk0 = chunks.get(0) ?? [];
    const tree = chunk0.filter((l) => l.version === 3).length;
    if (tree > chunk0.length - tree) homes.push({ fileId, epochs: epochsOf(chunks) });
    else if (tree === 0 && chunk0.every((l) => l.version === 1)) {
      flat.add(fileId);
      for (const e of epochsOf(chunks)) candidates.push({ fileId, ...e });
    }
  }
  const read = (l: IndexedChunk): Promise<Uint8Array> => readFile(l.path);
  for (const home of homes) {
    let census: GroupCensus | undefined;
    let homeEpoch = 0;
    // Newest epoch first (#15), as the rebuild itself; a tree file keeps one epoch in practice.
    for (const e of home.epochs) {
      const h = { fileId: home.fileId, ...e, chunk0: e.chunk0.filter((l) => l.version === 3) };
      const shaped = candidates.filter((c) => !subFiles.has(c.fileId) && sameShape(h, c));
      const c = await findRemoteGroups(h, shaped, read);
      const enough = c.complete.length + c.found.length >= c.K;
      // The error of a file no epoch rebuilds names what its newest epoch holds.
      if (census === undefined || enough) [census, homeEpoch] = [c, e.epoch];
      if (enough) break;
    }
    if (!census) continue;
    censuses.set(home.fileId, census);
    const chunks = index.files.get(home.fileId)!;
    const homeFileId = fileIdFromHex(home.fileId);
    for (const f of census.found) {
      subFiles.add(f.fileId);
      const lift: SubFileLift = { subFileId: fileIdFromHex(f.fileId), subEpoch: f.epoch, homeFileId, homeEpoch, groupX: f.groupX, K: census.K };
      for (const [i, list] of index.files.get(f.fileId) ?? []) {
        const mine = list.filter((l) => l.epoch === f.epoch).map((l): Located => ({ ...l, epoch: homeEpoch, version: 3, group: { x: f.groupX, k: census.K }, lift }));
        chunks.set(i, [...(chunks.get(i) ?? []), ...mine]);
      }
      // What was dropped of the sub-file (wrong place, digest) is reported with the home file.
      const dropped = index.dropped.get(f.fileId);
      if (dropped) index.dropped.set(home.fileId, [...(index.dropped.get(home.fileId) ?? []), ...dropped]);
    }
  }
  return { censuses, subFiles, flat };
}

async function checkFolders(dirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of dirs) {
    const s = await stat(d).catch(() => undefined);
    if (!s) throw new KofnError('INVALID_ARGUMENT', `relay folder ${d} does not exist`);
    if (!s.isDirectory()) throw new KofnError('INVALID_ARGUMENT', `relay folder ${d} is not a folder`);
    out.push(resolve(d));
  }
  return out;
}

/**
 * Rebuilds every file found in `dirs` into `outDir`. Files that cannot be rebuilt are reported, not
 * written; a manifest (`kofn-recover-manifest.json`) records every file's full name, where it was saved
 * and every dropped, corrupt or missing share with its relay folder.
 */
export async function recoverDirectories(dirs: readonly string[], outDir: string): Promise<RecoveryReport> {
  const folders = await checkFolders(dirs);
  await mkdir(outDir, { recursive: true });
  const index = await indexShares(folders);
  const taken = new Set<string>([MANIFEST_NAME]);
  const files: RecoveredFile[] = [];
  const trees = await joinRemoteGroups(index);
  const ids = new Set([...index.files.keys(), ...index.dropped.keys()]);
  for (const id of [...ids].sort()) {
    if (trees.subFiles.has(id)) continue; // read as a group of its home file
    const tree = trees.censuses.get(id);
    const r = await recoverNewestEpoch({ id, chunks: index.files.get(id) ?? new Map<number, Located[]>(), dropped: index.dropped.get(id) ?? [], dirs: folders, outDir, taken, census: tree });
    if (tree?.found.length) r.remoteGroups = tree.found;
    if (r.error?.code === 'AUTH_FAILED' && r.name === undefined && trees.flat.has(id)) r.error.message += ` ${MAYBE_SUB_FILE}`;
    files.push(r);
  }
  const manifestPath = join(outDir, MANIFEST_NAME);
  await writeFile(manifestPath, `${JSON.stringify({ relayFolders: folders, files, unattributed: index.unattributed }, null, 2)}\n`);
  return { files, unattributed: index.unattributed, manifestPath };
}
