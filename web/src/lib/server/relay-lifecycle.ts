/**
 * Relay lifecycle for administrators (issue #16): drain a relay, mark one lost, retire a drained one.
 *
 * - **Drain**: the relay stops taking new shares (reservations choose `active` relays only) and every
 *   share it holds moves to another relay through repair by relays (repair.ts `rebuildShareOn`), then the
 *   relay's copy is deleted. The share is rebuilt **at the same x** on the new relay: it is then the very
 *   share the drained relay held (same polynomial, same x), so it is verified against the digest root
 *   recorded for the file's current epoch, and a drained disk (or its backups) that kept a copy holds the
 *   same point as the new relay, not a second one: no coalition gains a share by the move.
 * - **Lost**: the relay is gone for good; its shares are rebuilt the same way onto other relays from k
 *   good helpers (nothing is deleted on it).
 * - **Retire**: a drained (or lost) relay that no placement references any more is no longer listed for
 *   uploads and no longer counts against the licence's relay limit (relays.ts enrollRelay). The licence
 *   still bounds the relays in service.
 *
 * Work runs as durable jobs (jobs.ts: FOR UPDATE SKIP LOCKED claims, leases, retries with backoff):
 * `relay-drain` (one per relay) enqueues one `relay-move` per file; the job runner runs one job at a time
 * per coordinator replica, which bounds how many moves run at once. Every job is idempotent and resumes
 * after a crash: a move remembers its target relay in its own payload, drops what that target held of the
 * epoch before rebuilding, and switches the placement in one transaction that locks the file row (as a
 * renewal's switch does, so the two never interleave).
 */
import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import { DEFAULT_RELAY_TIMEOUTS, KofnError, RELAY_ID_PATTERN, RelayClient, digestRoot, hasErrorCode, type RelayTimeouts } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, jobs, placements, relays, shareHealth } from './db/schema.js';
import { groupName, moveRelayInTree, sameSharing, shareThreshold } from './tree-layouts.js';
import { pendingReplacements } from './replace-jobs.js';
import { enqueue, holdLease, type JobHandler, type JobRow } from './jobs.js';
import { record } from './history.js';
import { byFreeSpace } from './relays.js';
import { lockFileAtEpoch } from './file-access.js';
import { deleteFileOn, listChunks } from './relay-client.js';
import { mintCapability, type SigningKey } from './signing-keys.js';
import { checkFile } from './health.js';
import { REPAIR_LEASE_MS, copyShareOn, goodShares, placementsWithRelays, rebuildShareOn, refOf } from './repair.js';
import { awaitOwnerCheck, forgetOwnerCheck } from './repair-verification.js';

export const DRAIN_JOB = 'relay-drain';
export const MOVE_JOB = 'relay-move';
export const RELEASE_JOB = 'relay-release';

export type Lifecycle = (typeof relays.$inferSelect)['lifecycle'];
type RelayRow = typeof relays.$inferSelect;

/** File states whose placements still reference a relay (a deleting file's shares are still to delete). */
const HOLDING = ['reserved', 'available', 'deleting'] as const;

export interface LifecycleView {
  relayId: string;
  lifecycle: Lifecycle;
  since: string | null;
  /** Shares still placed on the relay (files reserved, available or being deleted). */
  remaining: number;
  /** Shares it held when the drain or loss began. */
  total: number | null;
  /** A drain or loss whose relay holds nothing any more: it may be retired. */
  done: boolean;
  /** Moves that are failing (the newest error), for the administrator. */
  failing: number;
  lastError: string | null;
  /** Seconds left at the pace so far, when there is a pace to go by. */
  etaSeconds: number | null;
}

function relayIdOf(raw: unknown): string {
  if (typeof raw !== 'string' || !RELAY_ID_PATTERN.test(raw)) throw new KofnError('NOT_FOUND', 'No such storage server.');
  return raw;
}

async function held(db: Db, relayId: string): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(placements)
    .innerJoin(files, eq(files.id, placements.fileId))
    .where(and(eq(placements.relayId, relayId), inArray(files.status, [...HOLDING])));
  return row?.n ?? 0;
}

/** Lifecycle and progress of every relay (administrators). */
export async function lifecycleViews(db: Db, now = new Date()): Promise<LifecycleView[]> {
  const rows = await db.select().from(relays);
  const counts = await db
    .select({ relayId: placements.relayId, n: sql<number>`count(*)::int` })
    .from(placements)
    .innerJoin(files, eq(files.id, placements.fileId))
    .where(inArray(files.status, [...HOLDING]))
    .groupBy(placements.relayId);
  const failing = await db
    .select()
    .from(jobs)
    .where(and(eq(jobs.kind, MOVE_JOB), sql`${jobs.lastError} is not null`, inArray(jobs.status, ['pending', 'running', 'failed'])));
  return rows.map((r) => {
    const remaining = counts.find((c) => c.relayId === r.id)?.n ?? 0;
    const moving = r.lifecycle === 'draining' || r.lifecycle === 'lost';
    const mine = failing.filter((j) => (j.payload as { relayId?: unknown }).relayId === r.id);
    const moved = (r.moveTotal ?? 0) - remaining;
    const elapsed = r.lifecycleAt ? (now.getTime() - r.lifecycleAt.getTime()) / 1000 : 0;
    return {
      relayId: r.id,
      lifecycle: r.lifecycle,
      since: r.lifecycleAt?.toISOString() ?? null,
      remaining,
      total: r.moveTotal,
      done: moving && remaining === 0,
      failing: mine.length,
      lastError: mine.sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime())[0]?.lastError ?? null,
      etaSeconds: moving && remaining > 0 && moved > 0 && elapsed > 0 ? Math.ceil((elapsed / moved) * remaining) : null
    };
  });
}

/**
 * Moves the relay from one of `from` to `to` in one conditional update: a second identical request (a
 * replay, a double click) finds the relay already moved on and is refused with CONFLICT.
 */
async function transition(db: Db, relayId: string, from: Lifecycle[], to: Lifecycle, now: Date, extra: Partial<RelayRow> = {}): Promise<RelayRow> {
  const [relay] = await db.select().from(relays).where(eq(relays.id, relayId));
  if (!relay) throw new KofnError('NOT_FOUND', 'No such storage server.');
  const [moved] = await db
    .update(relays)
    .set({ lifecycle: to, lifecycleAt: now, ...extra })
    .where(and(eq(relays.id, relayId), inArray(relays.lifecycle, from)))
    .returning();
  if (!moved) throw new KofnError('CONFLICT', `Storage server ${relay.name} is ${relay.lifecycle}: it cannot be ${to === 'draining' ? 'drained' : to === 'lost' ? 'marked lost' : 'retired'} now.`);
  return moved;
}

/**
 * A relay being replaced (renewal-replace.ts) is neither drained nor marked lost until its replacement jobs
 * end: the drain's moves and the replacement's renewals would both rewrite its placements. The reverse order
 * is refused by the replacement route.
 */
async function refuseWhileReplaced(db: Db, relayId: string): Promise<void> {
  const left = await pendingReplacements(db, relayId);
  if (left > 0) throw new KofnError('CONFLICT', `This storage server is being replaced (${left} file(s) still to move): wait until the replacement ends.`);
}

/** Starts draining a relay (administrator): no new shares go to it, and a durable job moves its shares away. */
export async function drainRelay(db: Db, adminId: string, rawId: unknown, now = new Date()): Promise<LifecycleView> {
  const relayId = relayIdOf(rawId);
  const others = await db
    .select({ id: relays.id })
    .from(relays)
    .where(and(ne(relays.id, relayId), eq(relays.lifecycle, 'active')));
  if (others.length === 0) throw new KofnError('CONFLICT', 'No other storage server in service can take this one\u2019s shares.');
  await refuseWhileReplaced(db, relayId);
  const relay = await transition(db, relayId, ['active'], 'draining', now, { moveTotal: await held(db, relayId) });
  await enqueue(db, DRAIN_JOB, relayId, { relayId }, now);
  await record(db, {
    userId: adminId,
    operation: 'relay_lifecycle',
    fileName: relay.name,
    result: 'ok',
    detail: `drain of storage server ${relay.name} started: ${relay.moveTotal ?? 0} share(s) to move`
  });
  return viewOf(db, relayId, now);
}

/** Marks a relay lost for good (administrator): its shares are rebuilt on other relays from k good helpers. */
export async function markLost(db: Db, adminId: string, rawId: unknown, now = new Date()): Promise<LifecycleView> {
  const relayId = relayIdOf(rawId);
  await refuseWhileReplaced(db, relayId);
  const relay = await transition(db, relayId, ['active', 'draining'], 'lost', now, { moveTotal: await held(db, relayId) });
  await enqueue(db, DRAIN_JOB, relayId, { relayId }, now);
  await record(db, {
    userId: adminId,
    operation: 'relay_lifecycle',
    fileName: relay.name,
    result: 'ok',
    detail: `storage server ${relay.name} marked lost: ${relay.moveTotal ?? 0} share(s) to rebuild elsewhere`
  });
  return viewOf(db, relayId, now);
}

/** Retires a drained or lost relay that holds nothing the coordinator references (administrator). */
export async function retireRelay(db: Db, adminId: string, rawId: unknown, now = new Date()): Promise<LifecycleView> {
  const relayId = relayIdOf(rawId);
  const [relay] = await db.select().from(relays).where(eq(relays.id, relayId));
  if (!relay) throw new KofnError('NOT_FOUND', 'No such storage server.');
  const left = await held(db, relayId);
  if (relay.lifecycle !== 'retired' && left > 0) throw new KofnError('CONFLICT', `Storage server ${relay.name} still holds ${left} share(s): drain it (or mark it lost) and wait until it is empty.`);
  await transition(db, relayId, ['draining', 'lost'], 'retired', now);
  await record(db, { userId: adminId, operation: 'relay_lifecycle', fileName: relay.name, result: 'ok', detail: `storage server ${relay.name} retired` });
  return viewOf(db, relayId, now);
}

async function viewOf(db: Db, relayId: string, now: Date): Promise<LifecycleView> {
  return (await lifecycleViews(db, now)).find((v) => v.relayId === relayId)!;
}

/**
 * The drain job: one move per available file placed on the relay. Files still being uploaded (reserved)
 * or deleted are waited for: the job fails with a plain reason and the runner retries it with backoff;
 * maintenance (`resumeDrains`) re-enqueues drains whose relay still holds shares.
 */
export async function runDrain(db: Db, relayId: string, now = new Date()): Promise<void> {
  const [relay] = await db.select().from(relays).where(eq(relays.id, relayId));
  if (!relay || (relay.lifecycle !== 'draining' && relay.lifecycle !== 'lost')) return;
  const rows = await db
    .select({ fileId: placements.fileId, status: files.status })
    .from(placements)
    .innerJoin(files, eq(files.id, placements.fileId))
    .where(and(eq(placements.relayId, relayId), inArray(files.status, [...HOLDING])));
  for (const r of rows) if (r.status === 'available') await enqueue(db, MOVE_JOB, `${r.fileId}:${relayId}`, { fileId: r.fileId, relayId }, now);
  const waiting = rows.filter((r) => r.status !== 'available').length;
  if (waiting > 0) throw new KofnError('UNAVAILABLE', `Waiting for ${waiting} upload(s) or deletion(s) in progress on ${relay.name} to finish.`);
}

/** Maintenance: a drain whose relay still holds shares (an upload committed after it began) runs again. */
export async function resumeDrains(db: Db, now = new Date()): Promise<void> {
  const moving = await db
    .select()
    .from(relays)
    .where(inArray(relays.lifecycle, ['draining', 'lost']));
  for (const r of moving) if ((await held(db, r.id)) > 0) await enqueue(db, DRAIN_JOB, r.id, { relayId: r.id }, now);
}

function online(r: RelayRow, offlineAfterMs: number, now: Date): boolean {
  return r.publicKey !== null && now.getTime() - r.lastHeartbeat.getTime() <= offlineAfterMs;
}

export interface MoveDeps {
  db: Db;
  key: SigningKey;
  offlineAfterMs: number;
  timeouts?: RelayTimeouts;
}

/**
 * Moves one file's share off a draining or lost relay onto another relay, at the same x, verified by
 * digest. Answers 'moved' or 'nothing' (file gone, share already moved, relay back in service); throws
 * (the job retries) when no relay can take the share, fewer than k good helpers are known, or a step fails.
 */
export async function moveShare(deps: MoveDeps, fileId: string, fromId: string, job?: JobRow, now = new Date()): Promise<'moved' | 'nothing'> {
  const { db, key } = deps;
  const timeouts = deps.timeouts ?? DEFAULT_RELAY_TIMEOUTS;
  const [file] = await db
    .select()
    .from(files)
    .where(and(eq(files.id, fileId), eq(files.status, 'available')));
  if (!file) return 'nothing';
  const [from] = await db.select().from(relays).where(eq(relays.id, fromId));
  if (!from || (from.lifecycle !== 'draining' && from.lifecycle !== 'lost')) return 'nothing';
  let where = await placementsWithRelays(db, fileId);
  const source = where.find((p) => p.relayId === fromId);
  if (!source) return 'nothing';
  // Issue #21: a tree file's share is a sub-share of its group, rebuilt by k_g relays of that group only and
  // moved to a relay of the same group label (docs/multilevel.md).
  const k = shareThreshold(file, source.groupX);
  if (k === undefined) return 'nothing';

  // The share's bytes are known by their digest root at this epoch (commit, or the renewal's switch). A file
  // renewed before roots were kept per epoch: a draining relay's own listing stands in for it.
  let expected = source.rootEpoch === file.epoch ? source.digestRoot : null;
  if (expected === null && from.lifecycle === 'draining') {
    const listed = await listChunks(key, refOf(from), fileId, file.chunkCount, timeouts, file.epoch);
    const byIndex = new Map(listed.map((c) => [c.index, c.digest]));
    if (byIndex.size === file.chunkCount + 1) expected = await digestRoot(Array.from({ length: file.chunkCount + 1 }, (_, i) => byIndex.get(i)!));
  }
  if (expected === null) throw new KofnError('CONFLICT', `No digest is recorded for epoch ${file.epoch} of ${file.name}: its share on ${from.name} cannot be moved verifiably.`);

  // A fresh check (relay listings, no share bytes) names the good helpers.
  await checkFile(db, key, fileId, timeouts, now);
  where = await placementsWithRelays(db, fileId);
  const good = await goodShares(db, fileId);
  const helpers = where.filter((p) => p.relayId !== fromId && good.has(p.relayId) && sameSharing(file, p, source)).slice(0, k);
  // A draining relay still serves its share, checked good just now: it is copied relay to relay (one share's
  // bytes moved instead of k, and the only way for a file with n = k), verified by digest root like a
  // rebuild. A lost relay's share, or a copy that fails, is rebuilt from k good helpers.
  const canCopy = from.lifecycle === 'draining' && good.has(fromId);
  if (helpers.length < k && !canCopy) {
    throw new KofnError('NOT_ENOUGH_SHARES', `Only ${helpers.length} good share(s) of ${file.name} besides ${from.name}; moving needs ${k}.`);
  }

  const target = await chooseTarget(
    deps,
    file.id,
    where.map((p) => p.relayId),
    job,
    now,
    // A tree file's group stays within its group label (one cloud, one site): a relay of another group
    // taking the share would hold sub-shares of two groups.
    file.layout ? { groupLabel: from.groupLabel } : undefined
  );
  // A move of a large file takes many collect steps (one range each): the job holds its lease between them,
  // so another coordinator replica does not take the move over and start it again (repair.md).
  const steps = job ? { afterStep: () => holdLease(db, job, REPAIR_LEASE_MS) } : {};
  let copy = canCopy;
  if (canCopy) {
    try {
      await copyShareOn(key, file, target, where.find((p) => p.relayId === fromId) ?? source, expected, timeouts, steps);
    } catch (err) {
      // A lost lease stops the move here: another worker has it.
      if (helpers.length < k || hasErrorCode(err, 'CONFLICT')) throw err;
      copy = false;
    }
  }
  if (!copy) await rebuildShareOn(key, file, target, source.x, helpers, expected, timeouts, steps);

  const switched = await db.transaction(async (tx) => {
    if (!(await lockFileAtEpoch(tx, fileId, file.epoch))) return false;
    const moved = await tx
      .update(placements)
      .set({ relayId: target.id, digestRoot: expected, rootEpoch: file.epoch })
      .where(and(eq(placements.fileId, fileId), eq(placements.relayId, fromId), eq(placements.x, source.x)))
      .returning({ x: placements.x });
    if (moved.length !== 1) return false;
    // A tree file's manifest names each group's relays: the moved one is renamed there too.
    if (file.layout) await moveRelayInTree(tx, fileId, fromId, target.id);
    await tx.delete(shareHealth).where(and(eq(shareHealth.fileId, fileId), eq(shareHealth.relayId, fromId)));
    await tx
      .insert(shareHealth)
      .values({ fileId, relayId: target.id, state: 'ok', detail: `moved from ${from.name}`, scrubDamage: null, authFailedAt: null, checkedAt: now })
      .onConflictDoUpdate({ target: [shareHealth.fileId, shareHealth.relayId], set: { state: 'ok', detail: `moved from ${from.name}`, scrubDamage: null, authFailedAt: null, checkedAt: now } });
    // The moved share was verified by digest root only: the owner's browser authenticates it on its new relay.
    await forgetOwnerCheck(tx, fileId, fromId);
    await awaitOwnerCheck(tx, fileId, target.id, file.epoch, now);
    return true;
  });
  if (!switched) throw new KofnError('CONFLICT', `${file.name} changed (renewed or moved) during the move; the move runs again.`);
  // The drained relay's copy goes (every epoch it may still hold); a lost relay is not asked.
  if (from.lifecycle === 'draining') await enqueue(db, RELEASE_JOB, `${fileId}:${fromId}`, { fileId, relayId: fromId, epoch: file.epoch }, now);
  await record(db, {
    userId: file.ownerId,
    operation: 'repair',
    fileId,
    fileName: file.name,
    result: 'ok',
    detail: `share moved from ${from.name} (${from.lifecycle}) to ${target.name} at epoch ${file.epoch}, ${copy ? `copied from ${from.name}` : `rebuilt by ${helpers.map((h) => h.relay.name).join(', ')}`}`
  });
  return 'moved';
}

/**
 * The relay that takes the share: the one this job chose before a crash if it is still fit, else the active,
 * enrolled, online relay with the most free space that holds no share of the file. The choice is kept in
 * the job's payload, so a resumed move rebuilds onto the same relay (whose partial copy it drops first).
 */
async function chooseTarget(deps: MoveDeps, fileId: string, holders: string[], job: JobRow | undefined, now: Date, within?: { groupLabel: string | null }): Promise<RelayRow> {
  const candidates = (await deps.db.select().from(relays).where(eq(relays.lifecycle, 'active'))).filter(
    (r) => !holders.includes(r.id) && online(r, deps.offlineAfterMs, now) && (within === undefined || r.groupLabel === within.groupLabel)
  );
  const remembered = (job?.payload as { target?: unknown } | undefined)?.target;
  const kept = candidates.find((r) => r.id === remembered);
  if (kept) return kept;
  const pick = candidates.sort(byFreeSpace)[0];
  if (!pick)
    throw new KofnError(
      'RELAYS_OFFLINE',
      within
        ? `No storage server in service and online in the group ${groupName(within.groupLabel)} can take this share (each file has at most one share per server).`
        : 'No storage server in service and online can take this share (each file has at most one share per server).'
    );
  if (job) {
    await deps.db
      .update(jobs)
      .set({ payload: { ...(job.payload as Record<string, unknown>), target: pick.id } })
      .where(and(eq(jobs.id, job.id), eq(jobs.lockedBy, job.lockedBy ?? '')));
  }
  return pick;
}

/** Deletes what a drained relay holds of a file: epoch 0, the file's epoch and the next (route), and the one before. */
async function release(deps: MoveDeps, fileId: string, relayId: string, epoch: number): Promise<void> {
  const [relay] = await deps.db.select().from(relays).where(eq(relays.id, relayId));
  if (!relay || relay.lifecycle === 'lost') return;
  // Never delete a share the relay is (again) the placement of.
  const [still] = await deps.db
    .select()
    .from(placements)
    .where(and(eq(placements.fileId, fileId), eq(placements.relayId, relayId)));
  if (still) return;
  const timeouts = deps.timeouts ?? DEFAULT_RELAY_TIMEOUTS;
  await deleteFileOn(deps.key, refOf(relay), fileId, timeouts, epoch);
  if (epoch >= 2) {
    const token = () => mintCapability(deps.key, { relayId, userId: 'coordinator', fid: fileId, op: 'renew_drop', chunks: [0, 0], ttl: 60, ep: epoch - 1, dxs: [] });
    await new RelayClient(refOf(relay), { token, timeouts }).dropEpoch(fileId, epoch - 1);
  }
}

export function lifecycleHandlers(deps: MoveDeps): Record<string, JobHandler> {
  return {
    [DRAIN_JOB]: async (payload) => runDrain(deps.db, String(payload.relayId)),
    [MOVE_JOB]: async (payload, job) => {
      await moveShare(deps, String(payload.fileId), String(payload.relayId), job);
    },
    [RELEASE_JOB]: async (payload) => release(deps, String(payload.fileId), String(payload.relayId), Number(payload.epoch) || 0)
  };
}
