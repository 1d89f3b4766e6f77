/**
 * The trash (issue #18): Remove moves a file or a folder (with everything under it) to the trash, from
 * where it is restored or purged. Purging (emptying the trash, or the automatic purge KOFN_TRASH_DAYS after
 * trashing, default 30) marks the files `deleting` and enqueues the same durable `delete-file` jobs a
 * removal always used (maintenance.ts), in the transaction that marks them, so a crash loses no deletion.
 * Trashed files still count against the quota (usage.ts counts `available` files, trashed or not) until
 * purged. Grantees lose sight of a trashed file (file-access.ts) and get it back on restore.
 *
 * Everything trashed in one request shares `trashedWith` (the id of the item the person chose), so a
 * folder comes back, or goes, with its contents.
 */
import { and, desc, eq, inArray, isNotNull, lt, ne, or, sql, type SQL } from 'drizzle-orm';
import { KofnError, MAX_BATCH_FILES, type BulkResult, type RemoveResult, type TrashItem, type TrashListing } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, folders, grants } from './db/schema.js';
import { enqueue } from './jobs.js';
import { record } from './history.js';
import { visibleFile, type Ctx, type FileRow } from './file-access.js';
import { activeFolder, type FolderRow, folderNotFound, folderRef, freeName, heightBelow, holdsName, lockOwner, MAX_FOLDER_DEPTH, nameTaken, pathTo, subtreeIds } from './folders.js';
import { failed } from './batch.js';
import * as v from './validate.js';

const fileNotFound = () => new KofnError('NOT_FOUND', 'File not found on the servers.');

/**
 * `DELETE /api/files/:id`: an available file goes to the trash; an upload never committed (the browser
 * cancelling its own reservation) is deleted at once, as before, since there is nothing to restore.
 */
export async function trashFile(ctx: Ctx, rawId: unknown, now = new Date()): Promise<RemoveResult> {
  const file = await visibleFile(ctx, rawId, { grantee: false, statuses: ['available', 'reserved'] });
  if (file.status === 'reserved') {
    await ctx.db.transaction(async (tx) => {
      await tx.update(files).set({ status: 'deleting' }).where(eq(files.id, file.id));
      await enqueue(tx, 'delete-file', file.id, { fileId: file.id }, now);
    });
    return { fileId: file.id, status: 'deleting' };
  }
  await ctx.db.transaction((tx) => trashFileIn(tx, ctx.user.id, file.id, now));
  await record(ctx.db, { userId: ctx.user.id, operation: 'remove', fileId: file.id, fileName: file.name, result: 'ok', detail: 'moved to the trash' });
  return { fileId: file.id, status: 'trashed' };
}

/** Moves the owner's available file to the trash in `tx`; NOT_FOUND when it is not (or no longer) there. */
export async function trashFileIn(tx: Db, ownerId: string, fileId: string, now: Date): Promise<void> {
  const moved = await tx
    .update(files)
    .set({ trashedAt: now, trashedWith: fileId })
    .where(and(eq(files.id, fileId), eq(files.ownerId, ownerId), eq(files.status, 'available'), sql`${files.trashedAt} is null`))
    .returning({ id: files.id });
  if (moved.length === 0) throw fileNotFound();
}

/** Moves the owner's folder and everything under it to the trash in `tx` (the owner's lock held). */
export async function trashFolderIn(tx: Db, ownerId: string, folderId: string, now: Date): Promise<FolderRow> {
  const f = await activeFolder(tx, ownerId, folderId);
  await stampFolder(tx, f.id, now);
  return f;
}

/** Stamps a folder and everything under it as trashed with it (the caller holds the owner's lock). */
async function stampFolder(tx: Db, folderId: string, now: Date): Promise<void> {
  const ids = await subtreeIds(tx, folderId);
  await tx
    .update(folders)
    .set({ trashedAt: now, trashedWith: folderId })
    .where(and(inArray(folders.id, ids), sql`${folders.trashedAt} is null`));
  // Every row still holding a name (uploads in progress and deletions under way too): none may surface
  // in the root when the folder is purged and their folder_id becomes null.
  await tx
    .update(files)
    .set({ trashedAt: now, trashedWith: folderId })
    .where(and(inArray(files.folderId, ids), sql`${files.trashedAt} is null`, ne(files.status, 'deleted')));
}

/** `DELETE /api/folders/:id`: the folder and everything under it go to the trash. */
export async function trashFolder(ctx: Ctx, rawId: unknown, now = new Date()): Promise<{ folderId: string; status: 'trashed' }> {
  const id = folderRef(rawId);
  if (id === null) throw v.wrongValue('id', 'a folder id (the root cannot be removed)');
  const folder = await ctx.db.transaction(async (tx) => {
    await lockOwner(tx, ctx.user.id);
    return trashFolderIn(tx, ctx.user.id, id, now);
  });
  await record(ctx.db, { userId: ctx.user.id, operation: 'remove', fileName: `${folder.name}/`, result: 'ok', detail: 'folder moved to the trash' });
  return { folderId: folder.id, status: 'trashed' };
}

/**
 * `onConflict: 'replace'` at commit (files.ts markCommitted, inside its transaction): whatever file holds
 * the new file's name in its folder goes to the trash (so a replace can be undone). A folder holding the
 * name cannot be replaced by a file: the new file then keeps both, under a free name.
 */
export async function replaceOnCommit(tx: Db, file: FileRow, now: Date): Promise<void> {
  await lockOwner(tx, file.ownerId);
  const inFolder = file.folderId === null ? sql`${files.folderId} is null` : eq(files.folderId, file.folderId);
  await tx
    .update(files)
    .set({ trashedAt: now, trashedWith: sql`${files.id}` })
    .where(and(eq(files.ownerId, file.ownerId), inFolder, eq(files.name, file.name), ne(files.id, file.id), eq(files.status, 'available'), holdsName()));
  // Anything else still holding the name (a folder, or an upload that is not yet available) stays; so does the new file, renamed.
  if (await nameTaken(tx, file.ownerId, file.folderId, file.name, { file: file.id })) {
    await tx
      .update(files)
      .set({ name: await freeName(tx, file.ownerId, file.folderId, file.name) })
      .where(eq(files.id, file.id));
  }
}

interface TrashCursor {
  t: string;
  i: string;
}

function decodeTrashCursor(raw: string | null): TrashCursor | undefined {
  if (raw === null || raw === '') return undefined;
  const bad = () => v.wrongValue('cursor', 'the nextCursor of the previous page');
  if (raw.length > 512) throw bad();
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<TrashCursor> | null;
    if (c && typeof c.t === 'string' && typeof c.i === 'string' && !Number.isNaN(Date.parse(c.t))) return { t: c.t, i: c.i };
  } catch {
    // falls through to the same refusal as a well-formed cursor of the wrong shape
  }
  throw bad();
}

/**
 * `GET /api/trash?cursor=&limit=`: what the person trashed, newest first, each with the bytes it still
 * holds against the quota and when the automatic purge takes it.
 */
export async function listTrash(ctx: Ctx, query: URLSearchParams): Promise<TrashListing> {
  const limitRaw = query.get('limit');
  const limit = limitRaw === null ? 100 : v.integer(Number(limitRaw), 'limit', 1, 500);
  const cursor = decodeTrashCursor(query.get('cursor'));
  const olderThan = (at: typeof files.trashedAt | typeof folders.trashedAt, id: typeof files.id | typeof folders.id): SQL | undefined =>
    cursor ? or(lt(at, new Date(cursor.t)), and(eq(at, new Date(cursor.t)), lt(id, cursor.i))) : undefined;
  const fileRows = await ctx.db
    .select()
    .from(files)
    .where(and(eq(files.ownerId, ctx.user.id), eq(files.trashedWith, files.id), eq(files.status, 'available'), olderThan(files.trashedAt, files.id)))
    .orderBy(desc(files.trashedAt), desc(files.id))
    .limit(limit + 1);
  const folderRows = await ctx.db
    .select()
    .from(folders)
    .where(and(eq(folders.ownerId, ctx.user.id), eq(folders.trashedWith, folders.id), olderThan(folders.trashedAt, folders.id)))
    .orderBy(desc(folders.trashedAt), desc(folders.id))
    .limit(limit + 1);
  const sizes = new Map<string, number>();
  if (folderRows.length) {
    const summed = await ctx.db
      .select({ w: files.trashedWith, n: sql<string>`coalesce(sum(${files.size}), 0)` })
      .from(files)
      .where(
        and(
          inArray(
            files.trashedWith,
            folderRows.map((f) => f.id)
          ),
          eq(files.status, 'available')
        )
      )
      .groupBy(files.trashedWith);
    for (const s of summed) sizes.set(s.w ?? '', Number(s.n));
  }
  const days = ctx.config.trashMs;
  // Every row selected has trashed_with set, so trashed_at too; `now` only satisfies the type.
  const now = new Date();
  const all: TrashItem[] = [
    ...fileRows.map((f) => ({ kind: 'file' as const, id: f.id, name: f.name, size: f.size, at: f.trashedAt ?? now })),
    ...folderRows.map((f) => ({ kind: 'folder' as const, id: f.id, name: f.name, size: sizes.get(f.id) ?? 0, at: f.trashedAt ?? now }))
  ]
    .sort((a, b) => b.at.getTime() - a.at.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .map(({ at, ...rest }) => ({ ...rest, trashedAt: at.toISOString(), purgeAt: new Date(at.getTime() + days).toISOString() }));
  const page = all.slice(0, limit);
  const last = page[page.length - 1];
  const nextCursor = all.length > limit && last ? Buffer.from(JSON.stringify({ t: last.trashedAt, i: last.id })).toString('base64url') : null;
  return { items: page, nextCursor };
}

/** `{ files?: string[], folders?: string[] }` of a bulk request: 1..MAX_BATCH_FILES ids in all. */
export function bulkIds(input: Record<string, unknown>): { files: unknown[]; folders: unknown[] } {
  const list = (x: unknown) => (x === undefined ? [] : Array.isArray(x) ? x : null);
  const f = list(input.files);
  const d = list(input.folders);
  if (f === null || d === null || f.length + d.length === 0 || f.length + d.length > MAX_BATCH_FILES) {
    throw v.wrongValue('files', `lists "files" and "folders" of 1..${MAX_BATCH_FILES} ids in all`);
  }
  return { files: f, folders: d };
}

/** Where a restored item goes: its old parent if that is still there and not in the trash, else the root. */
async function restoreParent(tx: Db, ownerId: string, parentId: string | null, height: number): Promise<string | null> {
  if (parentId === null) return null;
  try {
    await activeFolder(tx, ownerId, parentId);
  } catch {
    return null;
  }
  return (await pathTo(tx, parentId)).length + 1 + height > MAX_FOLDER_DEPTH ? null : parentId;
}

async function restoreOne(tx: Db, ownerId: string, kind: 'file' | 'folder', rawId: unknown): Promise<BulkResult> {
  if (kind === 'file') {
    const id = v.fileId(rawId);
    const [f] = await tx
      .select()
      .from(files)
      .where(and(eq(files.id, id), eq(files.ownerId, ownerId), eq(files.trashedWith, id), eq(files.status, 'available')));
    if (!f) throw fileNotFound();
    const parent = await restoreParent(tx, ownerId, f.folderId, 0);
    const name = (await nameTaken(tx, ownerId, parent, f.name, { file: f.id })) ? await freeName(tx, ownerId, parent, f.name) : f.name;
    await tx.update(files).set({ trashedAt: null, trashedWith: null, folderId: parent, name }).where(eq(files.id, f.id));
    return { ok: true, kind, id };
  }
  const id = folderRef(rawId);
  if (id === null) throw folderNotFound();
  const [d] = await tx
    .select()
    .from(folders)
    .where(and(eq(folders.id, id), eq(folders.ownerId, ownerId), eq(folders.trashedWith, id)));
  if (!d) throw folderNotFound();
  const parent = await restoreParent(tx, ownerId, d.parentId, await heightBelow(tx, id));
  const name = (await nameTaken(tx, ownerId, parent, d.name, { folder: d.id })) ? await freeName(tx, ownerId, parent, d.name) : d.name;
  // Name and place first: the unique index sees the folder only once it leaves the trash.
  await tx.update(folders).set({ parentId: parent, name }).where(eq(folders.id, id));
  await tx
    .update(folders)
    .set({ trashedAt: null, trashedWith: null })
    .where(and(eq(folders.ownerId, ownerId), eq(folders.trashedWith, id)));
  await tx
    .update(files)
    .set({ trashedAt: null, trashedWith: null })
    .where(and(eq(files.ownerId, ownerId), eq(files.trashedWith, id), ne(files.status, 'deleted')));
  return { ok: true, kind, id };
}

/**
 * `POST /api/trash/restore` `{ files?, folders? }`: each item back where it was (or in the root when its
 * folder is gone or in the trash), under a free name if its own was taken meanwhile. One result per item;
 * an id not in the user's trash (another user's, already restored: a replay) is NOT_FOUND.
 */
export async function restore(ctx: Ctx, input: Record<string, unknown>): Promise<{ results: BulkResult[] }> {
  const ids = bulkIds(input);
  const wanted = [...ids.files.map((id) => ({ kind: 'file' as const, id })), ...ids.folders.map((id) => ({ kind: 'folder' as const, id }))];
  const results = await ctx.db.transaction(async (tx) => {
    await lockOwner(tx, ctx.user.id);
    const out: BulkResult[] = [];
    for (const w of wanted) {
      try {
        out.push(await tx.transaction((inner) => restoreOne(inner, ctx.user.id, w.kind, w.id)));
      } catch (err) {
        out.push(failed(err));
      }
    }
    return out;
  });
  return { results };
}

/**
 * Purges trashed items matching `which` (one owner's whole trash, or everything trashed before a date):
 * their files are marked `deleting` with a `delete-file` job each, their grants dropped, their folders
 * deleted, all in the caller's transaction. Answers the counts.
 */
async function purge(tx: Db, which: { files: SQL; folders: SQL }, now: Date): Promise<{ files: number; folders: number }> {
  const gone = await tx
    .update(files)
    .set({ status: 'deleting' })
    .where(and(which.files, isNotNull(files.trashedAt), inArray(files.status, ['available', 'reserved'])))
    .returning({ id: files.id });
  for (let i = 0; i < gone.length; i += 500) {
    const slice = gone.slice(i, i + 500).map((f) => f.id);
    await tx.delete(grants).where(inArray(grants.fileId, slice));
  }
  for (const f of gone) await enqueue(tx, 'delete-file', f.id, { fileId: f.id }, now);
  const removed = await tx
    .delete(folders)
    .where(and(which.folders, isNotNull(folders.trashedAt)))
    .returning({ id: folders.id });
  return { files: gone.length, folders: removed.length };
}

/** `DELETE /api/trash`: empties the user's trash for good (the shares are deleted by durable jobs). */
export async function emptyTrash(ctx: Ctx, now = new Date()): Promise<{ files: number; folders: number }> {
  const counts = await ctx.db.transaction(async (tx) => {
    await lockOwner(tx, ctx.user.id);
    return purge(tx, { files: eq(files.ownerId, ctx.user.id), folders: eq(folders.ownerId, ctx.user.id) }, now);
  });
  if (counts.files + counts.folders > 0) {
    await record(ctx.db, { userId: ctx.user.id, operation: 'remove', fileName: 'Trash', result: 'ok', detail: `emptied the trash: ${counts.files} files, ${counts.folders} folders` });
  }
  return counts;
}

/** Maintenance: purges everything trashed more than `trashMs` ago, whoever owns it. */
export async function purgeTrash(db: Db, trashMs: number, now = new Date()): Promise<{ files: number; folders: number }> {
  const cutoff = new Date(now.getTime() - trashMs);
  return db.transaction((tx) => purge(tx, { files: lt(files.trashedAt, cutoff), folders: lt(folders.trashedAt, cutoff) }, now));
}
