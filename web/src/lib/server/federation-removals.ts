/**
 * Removal of a file's remote groups (issue #21 part 2; shared/docs/federation.md). The home deployment H holds
 * no token of another deployment X, so it cannot remove a sub-file there itself: when a file with remote
 * groups is removed for good (its delete-file job, whichever way it was removed), each of its sub-files is
 * recorded here for its owner, and the owner's browser, which is linked at X, removes it there on its next
 * visit and clears the record. Until then X keeps the sub-file (and counts it), as it would for any file of
 * that user; X's user can also remove it at X directly.
 */
import { and, eq } from 'drizzle-orm';
import { KofnError, isFileId, type TreeManifest } from '@kofn/shared';
import type { Db } from './db/index.js';
import { federationRemovals } from './db/schema.js';
import type { Ctx } from './file-access.js';
import * as v from './validate.js';

export interface PendingRemoval {
  deployment: string;
  fileId: string;
}

/** Records the sub-files of a removed file's remote groups (idempotent: a job run twice records them once). */
export async function recordRemoteRemovals(db: Db, file: { id: string; ownerId: string; layout: TreeManifest | null }): Promise<void> {
  const rows = (file.layout?.groups ?? []).flatMap((g) => (g.kind === 'remote' ? [{ deploymentId: g.deployment, remoteFileId: g.fileId, ownerId: file.ownerId, fileId: file.id }] : []));
  if (rows.length > 0) await db.insert(federationRemovals).values(rows).onConflictDoNothing();
}

/** The signed-in user's sub-files still to remove at other deployments (at most 500 at a time). */
export async function listRemovals(ctx: Ctx): Promise<{ removals: PendingRemoval[] }> {
  const rows = await ctx.db
    .select({ deployment: federationRemovals.deploymentId, fileId: federationRemovals.remoteFileId })
    .from(federationRemovals)
    .where(eq(federationRemovals.ownerId, ctx.user.id))
    .orderBy(federationRemovals.createdAt)
    .limit(500);
  return { removals: rows };
}

/**
 * The browser removed a sub-file at its deployment: `{ deployment, fileId }` leaves the list. Only the owner's
 * own records; anything else (someone else's, already cleared, never recorded) is NOT_FOUND.
 */
export async function clearRemoval(ctx: Ctx, input: Record<string, unknown>): Promise<{ cleared: true }> {
  const deployment = v.text(input.deployment, 'deployment', 100);
  if (!isFileId(input.fileId)) throw v.wrongValue('fileId', "the sub-file's id (32 hex digits)");
  const gone = await ctx.db
    .delete(federationRemovals)
    .where(and(eq(federationRemovals.ownerId, ctx.user.id), eq(federationRemovals.deploymentId, deployment), eq(federationRemovals.remoteFileId, input.fileId)))
    .returning({ fileId: federationRemovals.remoteFileId });
  if (gone.length === 0) throw new KofnError('NOT_FOUND', 'No such removal is waiting.');
  return { cleared: true };
}
