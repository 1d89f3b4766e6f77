/**
 * The owner's routes for verifying repaired shares (repair-verification.ts has the model and the reasons).
 * Only the owner reports (grantees and strangers get the same 404 as for a missing file); a report names the
 * file's current epoch (a renewal meanwhile: 409 VERIFICATION_STALE, and the browser checks again), and a
 * report repeated with the same outcome changes nothing.
 */
import { and, eq, inArray, isNull } from 'drizzle-orm';
import { KofnError, RELAY_ID_PATTERN, type PendingVerifications, type RepairCheck, type VerificationResult } from '@kofn/shared';
import { files, placements, relays, shareHealth, shareVerifications } from './db/schema.js';
import { lockFileAtEpoch, visibleFile, type Ctx } from './file-access.js';
import { record } from './history.js';
import { enqueueRepair } from './repair.js';
import { ownerChecks, type OwnerChecks } from './repair-verification.js';
import * as v from './validate.js';

/** A report is a few relay ids (at most n = 255 of 36 characters): 16 KiB holds it with room to spare. */
export const MAX_VERIFICATION_BODY = 16 * 1024;

/** `GET /api/files/verification`: the signed-in user's own files with repaired shares to authenticate now. */
export async function pendingVerifications(ctx: Ctx): Promise<PendingVerifications> {
  const checks = await ownerChecks(ctx.db, and(eq(files.ownerId, ctx.user.id), isNull(files.trashedAt), eq(shareVerifications.state, 'pending')));
  return {
    files: [...checks]
      .filter((e): e is [string, OwnerChecks & { k: number; verify: RepairCheck }] => e[1].verify !== null)
      .map(([fileId, c]) => ({ fileId, k: c.k, ...c.verify }))
      .sort((a, b) => a.fileId.localeCompare(b.fileId))
  };
}

const REPORT_KEYS = new Set(['epoch', 'relayIds', 'ok', 'badRelayIds']);

function relayIdList(input: unknown, field: string): string[] {
  if (!Array.isArray(input) || input.length === 0 || input.length > 255 || !input.every((id) => typeof id === 'string' && RELAY_ID_PATTERN.test(id))) {
    throw v.wrongValue(field, '1..255 storage server ids');
  }
  const ids = input as string[];
  if (new Set(ids).size !== ids.length) throw v.wrongValue(field, 'storage server ids, each once');
  return ids;
}

/** Checks a report's body once, at the edge: every failure is a 400 with a code. */
export function parseReport(input: Record<string, unknown>): { epoch: number; relayIds: string[]; ok: boolean; badRelayIds: string[] } {
  const extra = Object.keys(input).find((k) => !REPORT_KEYS.has(k));
  if (extra !== undefined) throw new KofnError('BAD_REQUEST', `Unknown field "${extra.slice(0, 40)}".`);
  const epoch = v.integer(input.epoch, 'epoch', 0, 2 ** 31 - 1);
  const relayIds = relayIdList(input.relayIds, 'relayIds');
  if (typeof input.ok !== 'boolean') throw v.wrongValue('ok', 'true, false');
  const ok = input.ok;
  if (ok) {
    if (input.badRelayIds !== undefined && !(Array.isArray(input.badRelayIds) && input.badRelayIds.length === 0)) throw v.wrongValue('badRelayIds', 'none when ok is true');
    return { epoch, relayIds, ok, badRelayIds: [] };
  }
  const badRelayIds = relayIdList(input.badRelayIds, 'badRelayIds');
  if (!badRelayIds.every((id) => relayIds.includes(id))) throw v.wrongValue('badRelayIds', 'ids among relayIds');
  return { epoch, relayIds, ok, badRelayIds };
}

const stale = (message: string) => new KofnError('VERIFICATION_STALE', message);

/**
 * `POST /api/files/:id/verification` (owner only). In one transaction holding the file's row at the reported
 * epoch, so a renewal's switch, a move or a repair never interleaves: each named share must await this report
 * (pending) or already carry its outcome (a repeat: nothing changes, no second history entry); a share in
 * the other outcome, moved off, or never repaired makes the report stale (409). Newly failed shares are
 * repaired (`enqueueRepair`, idempotent per file and relay).
 */
export async function reportVerification(ctx: Ctx, rawId: unknown, input: Record<string, unknown>, now = new Date()): Promise<VerificationResult> {
  const file = await visibleFile(ctx, rawId, { grantee: false, statuses: ['available'] });
  const report = parseReport(input);
  if (report.epoch !== file.epoch) throw stale(`This file is at epoch ${file.epoch}, not ${report.epoch}: its repaired shares are checked again.`);
  const bad = new Set(report.badRelayIds);
  const named = new Map((await ctx.db.select({ id: relays.id, name: relays.name }).from(relays).where(inArray(relays.id, report.relayIds))).map((r) => [r.id, r.name]));
  const changed = await ctx.db.transaction(async (tx) => {
    if (!(await lockFileAtEpoch(tx, file.id, report.epoch))) throw stale('This file changed (renewed, moved or removed) while its repaired shares were checked.');
    const rows = await tx
      .select({ relayId: shareVerifications.relayId, state: shareVerifications.state })
      .from(shareVerifications)
      .innerJoin(placements, and(eq(placements.fileId, shareVerifications.fileId), eq(placements.relayId, shareVerifications.relayId)))
      .where(and(eq(shareVerifications.fileId, file.id), inArray(shareVerifications.relayId, report.relayIds)));
    const stateOf = new Map(rows.map((r) => [r.relayId, r.state]));
    const verified: string[] = [];
    const failed: string[] = [];
    for (const id of report.relayIds) {
      const state = stateOf.get(id);
      if (state === undefined) throw stale(`No repaired share of this file on ${named.get(id) ?? 'that storage server'} awaits a check.`);
      // Shares of the subset not named bad authenticated too, but only a report of success verifies them.
      const outcome = report.ok ? 'verified' : bad.has(id) ? 'failed' : undefined;
      if (outcome === undefined || state === outcome) continue;
      if (state !== 'pending') throw stale(`The repaired share on ${named.get(id) ?? 'that storage server'} was already reported ${state}.`);
      (outcome === 'verified' ? verified : failed).push(id);
    }
    if (verified.length > 0) {
      await tx
        .update(shareVerifications)
        .set({ state: 'verified', verifiedAt: now })
        .where(and(eq(shareVerifications.fileId, file.id), inArray(shareVerifications.relayId, verified)));
    }
    if (failed.length > 0) {
      await tx
        .update(shareVerifications)
        .set({ state: 'failed', verifiedAt: null })
        .where(and(eq(shareVerifications.fileId, file.id), inArray(shareVerifications.relayId, failed)));
      // Damage the next listing cannot clear (health.ts effectiveState): the relay lists the digests it recorded.
      for (const relayId of failed) {
        await tx
          .insert(shareHealth)
          .values({ fileId: file.id, relayId, state: 'damaged', detail: "failed authentication in the owner's browser", authFailedAt: now, checkedAt: now })
          .onConflictDoUpdate({ target: [shareHealth.fileId, shareHealth.relayId], set: { authFailedAt: now } });
      }
    }
    return { verified, failed };
  });
  const names = (ids: string[]) => ids.map((id) => named.get(id) ?? id).join(', ');
  if (changed.verified.length > 0) {
    await record(ctx.db, {
      userId: file.ownerId,
      operation: 'repair',
      fileId: file.id,
      fileName: file.name,
      result: 'ok',
      detail: `repaired share on ${names(changed.verified)} authenticated by your browser at epoch ${file.epoch}`
    });
  }
  if (changed.failed.length > 0) {
    for (const id of changed.failed) await enqueueRepair(ctx.db, file.id, id, now);
    await record(ctx.db, {
      userId: file.ownerId,
      operation: 'repair',
      fileId: file.id,
      fileName: file.name,
      result: 'error',
      detail: `repaired share on ${names(changed.failed)} failed authentication in your browser at epoch ${file.epoch}: marked damaged, repair queued`
    });
  }
  return { fileId: file.id, epoch: file.epoch, verified: changed.verified, failed: changed.failed };
}
