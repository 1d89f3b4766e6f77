/**
 * Bulk actions on a selection (issue #18, multi-select): `POST /api/folders/bulk` `{ action: 'move' | 'trash',
 * files?: ids, folders?: ids, to?: folder id or null (the root) }`, at most MAX_BATCH_FILES items. Each item
 * is done on its own, exactly as its single route would (FOLDER_CYCLE for a folder moved into itself,
 * FILENAME_IN_USE, NOT_FOUND for another user's or a missing one), and answers its own result: one bad item
 * does not undo the others. All of it runs in one transaction under the owner's lock, each item inside a
 * savepoint, so a crash leaves either the whole request done or none of it.
 *
 * `{ action: 'share', files: ids, emails }` (bulk share) gives each e-mail read access to each file, as
 * `POST /api/grants` does for one (grants.ts grantOne: the same statements whether or not an address has
 * an account), but answers per file: a file that is not the caller's, not available or in the trash is
 * NOT_FOUND on its own instead of refusing the whole request. Read access is granted per file, so a share
 * request names no folders (WRONG_VALUE): the page shares the files of the selection.
 *
 * `{ action: 'revoke', files: ids }` (bulk revoke) ends every kind of sharing of each file: everyone's read
 * access (accounts and pending shares, as `revoke_read` does for each e-mail, one history row each) and
 * every link not yet revoked (as `DELETE /api/links/:id` does, one history row each), per file with its
 * counts. A file that is not the caller's, or is gone, is NOT_FOUND on its own (the same answer for another
 * user's file as for a missing one); a trashed file may be revoked (its shares wait for a restore).
 */
import { KofnError, type BulkResult } from '@kofn/shared';
import type { Ctx } from './file-access.js';
import { applyFileUpdate, applyFolderUpdate, folderRef, lockOwner } from './folders.js';
import { bulkIds, trashFileIn, trashFolderIn } from './trash.js';
import { failed } from './batch.js';
import { grantEmails, grantOne, sharedEmails } from './grants.js';
import { files, shareLinks } from './db/schema.js';
import { record } from './history.js';
import { and, eq, inArray, isNull } from 'drizzle-orm';
import * as v from './validate.js';

export async function bulkAction(ctx: Ctx, input: Record<string, unknown>, now = new Date()): Promise<{ results: BulkResult[] }> {
  const action = input.action;
  if (action !== 'move' && action !== 'trash' && action !== 'share' && action !== 'revoke') throw v.wrongValue('action', 'move, trash, share, revoke');
  const ids = bulkIds(input);
  if (action === 'share' || action === 'revoke') {
    if (ids.folders.length > 0) throw v.wrongValue('folders', 'no folders: read access is given per file');
    return action === 'share' ? shareFiles(ctx, ids.files, grantEmails(input)) : revokeFiles(ctx, ids.files, now);
  }
  if (action === 'move' && input.to === undefined) throw v.wrongValue('to', 'a folder id, or null for the root');
  const to = action === 'move' ? folderRef(input.to) : null;
  const wanted = [...ids.files.map((id) => ({ kind: 'file' as const, id })), ...ids.folders.map((id) => ({ kind: 'folder' as const, id }))];
  const results = await ctx.db.transaction(async (tx) => {
    await lockOwner(tx, ctx.user.id);
    const out: BulkResult[] = [];
    for (const w of wanted) {
      try {
        const id = w.kind === 'file' ? v.fileId(w.id) : folderRef(w.id);
        if (id === null) throw new KofnError('NOT_FOUND', 'Folder not found.');
        await tx.transaction(async (item) => {
          if (action === 'move') {
            if (w.kind === 'file') await applyFileUpdate(item, ctx.user.id, id, undefined, to);
            else await applyFolderUpdate(item, ctx.user.id, id, undefined, to);
          } else if (w.kind === 'file') await trashFileIn(item, ctx.user.id, id, now);
          else await trashFolderIn(item, ctx.user.id, id, now);
        });
        out.push({ ok: true, kind: w.kind, id });
      } catch (err) {
        out.push(failed(err));
      }
    }
    return out;
  });
  return { results };
}

const notFound = () => new KofnError('NOT_FOUND', 'File not found on the servers.');

/** Bulk share: each file on its own (its own savepoint and result), all under one transaction. */
async function shareFiles(ctx: Ctx, ids: unknown[], emails: string[]): Promise<{ results: BulkResult[] }> {
  const results = await ctx.db.transaction(async (tx) => {
    const out: BulkResult[] = [];
    for (const raw of ids) {
      try {
        const id = v.fileId(raw);
        const [f] = await tx
          .select({ id: files.id, name: files.name })
          .from(files)
          .where(and(eq(files.id, id), eq(files.ownerId, ctx.user.id), eq(files.status, 'available'), isNull(files.trashedAt)));
        if (!f) throw notFound();
        await tx.transaction((item) => grantOne(item, ctx, f, emails, 'add_read'));
        out.push({ ok: true, kind: 'file', id });
      } catch (err) {
        out.push(failed(err));
      }
    }
    return out;
  });
  return { results };
}

/** Bulk revoke: each file on its own (its own savepoint and result, with what it revoked), all under one transaction. */
async function revokeFiles(ctx: Ctx, ids: unknown[], now: Date): Promise<{ results: BulkResult[] }> {
  const results = await ctx.db.transaction(async (tx) => {
    const out: BulkResult[] = [];
    for (const raw of ids) {
      try {
        const id = v.fileId(raw);
        const [f] = await tx
          .select({ id: files.id, name: files.name })
          .from(files)
          .where(and(eq(files.id, id), eq(files.ownerId, ctx.user.id), inArray(files.status, ['available', 'reserved'])));
        if (!f) throw notFound();
        const revoked = await tx.transaction(async (item) => {
          const emails = await sharedEmails(item, ctx.user.id, f.id);
          if (emails.length) await grantOne(item, ctx, f, emails, 'revoke_read');
          const links = await item
            .update(shareLinks)
            .set({ revokedAt: now })
            .where(and(eq(shareLinks.fileId, f.id), eq(shareLinks.ownerId, ctx.user.id), isNull(shareLinks.revokedAt)))
            .returning({ id: shareLinks.id });
          for (const l of links) await record(item, { userId: ctx.user.id, operation: 'link_revoke', fileId: f.id, fileName: f.name, result: 'ok', detail: `link ${l.id}` });
          return { people: emails.filter((e) => e !== ctx.user.email).length, links: links.length };
        });
        out.push({ ok: true, kind: 'file', id, revoked });
      } catch (err) {
        out.push(failed(err));
      }
    }
    return out;
  });
  return { results };
}
