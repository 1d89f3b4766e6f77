/**
 * Bulk actions on a selection (issue #18, multi-select): `POST /api/folders/bulk` `{ action: 'move' | 'trash',
 * files?: ids, folders?: ids, to?: folder id or null (the root) }`, at most MAX_BATCH_FILES items. Each item
 * is done on its own, exactly as its single route would (FOLDER_CYCLE for a folder moved into itself,
 * FILENAME_IN_USE, NOT_FOUND for another user's or a missing one), and answers its own result: one bad item
 * does not undo the others. All of it runs in one transaction under the owner's lock, each item inside a
 * savepoint, so a crash leaves either the whole request done or none of it.
 */
import { KofnError, type BulkResult } from '@kofn/shared';
import type { Ctx } from './file-access.js';
import { applyFileUpdate, applyFolderUpdate, folderRef, lockOwner } from './folders.js';
import { bulkIds, trashFileIn, trashFolderIn } from './trash.js';
import { failed } from './batch.js';
import * as v from './validate.js';

export async function bulkAction(ctx: Ctx, input: Record<string, unknown>, now = new Date()): Promise<{ results: BulkResult[] }> {
  const action = input.action;
  if (action !== 'move' && action !== 'trash') throw v.wrongValue('action', 'move, trash');
  const ids = bulkIds(input);
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
