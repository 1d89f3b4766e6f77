/**
 * The owner's verification of repaired shares (issue #16; shared/docs/repair.md, "Verification by the
 * owner's browser"). The coordinator checks a share rebuilt or moved by repair against the digest root
 * recorded at commit, but a digest root is what the relay lists, and the coordinator never holds the MAC
 * key: only the owner's browser can rebuild chunks with that share and authenticate them. So every repair
 * and move that completes marks the share as awaiting the owner (`awaitOwnerCheck`); the owner's open Files
 * page rebuilds the file from a k-subset including it, authenticating every chunk and keeping nothing, and
 * reports here. Verified: recorded with its time. Failed: the share is marked damaged (health.ts: it
 * outlives listings, like scrub damage) and repaired again, which makes it await the owner anew.
 *
 * This module keeps the records (called by repair.ts and relay-lifecycle.ts inside their transactions, and
 * by the file lists); verification-api.ts serves the owner's routes.
 */
import { and, eq, type SQL } from 'drizzle-orm';
import type { RepairCheck } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, placements, shareHealth, shareVerifications } from './db/schema.js';
import type { Tx } from './file-access.js';

/** Marks `relayId`'s share of the file, just rebuilt or moved at `epoch`, as awaiting the owner's browser. */
export async function awaitOwnerCheck(tx: Tx, fileId: string, relayId: string, epoch: number, now: Date): Promise<void> {
  const row = { state: 'pending' as const, epoch, repairedAt: now, verifiedAt: null };
  await tx
    .insert(shareVerifications)
    .values({ fileId, relayId, ...row })
    .onConflictDoUpdate({ target: [shareVerifications.fileId, shareVerifications.relayId], set: row });
}

/** A share moved off `relayId`: nothing there awaits the owner any more. */
export async function forgetOwnerCheck(tx: Tx, fileId: string, relayId: string): Promise<void> {
  await tx.delete(shareVerifications).where(and(eq(shareVerifications.fileId, fileId), eq(shareVerifications.relayId, relayId)));
}

export interface OwnerChecks {
  verify: RepairCheck | null;
  verifiedAt: string | null;
}

/**
 * Per file among those `scope` selects (a condition on `share_verifications` or `files`): the shares that
 * await the owner, at the file's current epoch, and when the owner last verified one. A share awaits only
 * while its relay still holds the placement and its last check found it good: a browser cannot authenticate
 * a share that is missing, and one found damaged is repaired again first.
 */
export async function ownerChecks(db: Db, scope: SQL | undefined): Promise<Map<string, OwnerChecks & { k: number }>> {
  const rows = await db
    .select({
      fileId: shareVerifications.fileId,
      relayId: shareVerifications.relayId,
      state: shareVerifications.state,
      verifiedAt: shareVerifications.verifiedAt,
      epoch: files.epoch,
      k: files.k,
      health: shareHealth.state,
      scrubDamage: shareHealth.scrubDamage,
      authFailedAt: shareHealth.authFailedAt
    })
    .from(shareVerifications)
    .innerJoin(files, eq(files.id, shareVerifications.fileId))
    .innerJoin(placements, and(eq(placements.fileId, shareVerifications.fileId), eq(placements.relayId, shareVerifications.relayId)))
    .leftJoin(shareHealth, and(eq(shareHealth.fileId, shareVerifications.fileId), eq(shareHealth.relayId, shareVerifications.relayId)))
    .where(and(scope, eq(files.status, 'available')));
  const out = new Map<string, OwnerChecks & { k: number; waiting: boolean }>();
  for (const r of rows) {
    const entry = out.get(r.fileId) ?? { verify: null, verifiedAt: null, k: r.k, waiting: false };
    out.set(r.fileId, entry);
    if (r.state === 'pending') {
      entry.waiting = true;
      const good = r.health === 'ok' && !(r.scrubDamage && r.scrubDamage.length > 0) && r.authFailedAt === null;
      if (good) {
        entry.verify ??= { epoch: r.epoch, relayIds: [] };
        entry.verify.relayIds.push(r.relayId);
      }
    } else if (r.state === 'failed') entry.waiting = true;
    else if (r.verifiedAt && (entry.verifiedAt === null || r.verifiedAt.toISOString() > entry.verifiedAt)) entry.verifiedAt = r.verifiedAt.toISOString();
  }
  // "Verified by you" only while no repaired share of the file awaits a check or a new repair.
  return new Map(
    [...out].map(([id, e]) => [
      id,
      {
        k: e.k,
        verify: e.verify && { epoch: e.verify.epoch, relayIds: e.verify.relayIds.sort() },
        verifiedAt: e.waiting ? null : e.verifiedAt
      }
    ])
  );
}

/** Adds `verify` and `verifiedAt` to the owner's listed files (files.ts). */
export async function attachOwnerChecks<T extends { id: string }>(db: Db, listed: T[], scope: SQL | undefined): Promise<Array<T & OwnerChecks>> {
  const checks = listed.length === 0 ? new Map<string, OwnerChecks>() : await ownerChecks(db, scope);
  return listed.map((f) => ({ ...f, verify: checks.get(f.id)?.verify ?? null, verifiedAt: checks.get(f.id)?.verifiedAt ?? null }));
}
