/**
 * File health (issue #16; Tahoe-LAFS check: "healthy / needs repair / unrecoverable"). A periodic check
 * asks each relay of a file for its chunk list (the shared relay client's bounded `list`: no share bytes
 * move) and compares it with what the coordinator recorded at commit: every chunk index present, and the
 * SHA-256 root over the listed digests equal to the placement's `digestRoot`. A relay's own scrub (bit rot
 * by digest) reports damaged chunks with a signed message (`acceptScrubReport`), which a listing cannot
 * see: a relay lists the digests it recorded at PUT.
 *
 * States per file, from the shares confirmed good: healthy (n), degraded (k < good < n), at risk (exactly
 * k: one more loss and the file is gone), unrecoverable (< k), with the relays named. A share is good only
 * when its relay answered and matched; an unreachable relay is not counted, because it is not known good.
 */
import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { DEFAULT_RELAY_TIMEOUTS, RELAY_SCRUB_PATH, digestRoot, hasErrorCode, parseScrubReport, type RelayTimeouts } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, placements, relays, shareHealth } from './db/schema.js';
import { listChunks } from './relay-client.js';
import type { SigningKey } from './signing-keys.js';
import { enqueue } from './jobs.js';
import { record } from './history.js';
import { acceptSignedRelayMessage } from './relays.js';
import { enqueueRepair } from './repair.js';

export type ShareState = (typeof shareHealth.$inferSelect)['state'];
export type HealthState = 'healthy' | 'degraded' | 'at_risk' | 'unrecoverable';
export const HEALTH_STATES: readonly HealthState[] = ['healthy', 'degraded', 'at_risk', 'unrecoverable'];

export interface ShareHealthView {
  relayId: string;
  name: string;
  state: ShareState | 'unchecked';
  detail: string;
}

export interface FileHealthView {
  state: HealthState;
  /** The oldest check among the file's shares: the state is at least this fresh. */
  checkedAt: string;
  shares: ShareHealthView[];
}

/** The file's state from how many of its n shares are confirmed good (k..n rebuild it). */
export function healthState(k: number, n: number, good: number): HealthState {
  if (good >= n) return 'healthy';
  if (good > k) return 'degraded';
  if (good === k) return 'at_risk';
  return 'unrecoverable';
}

type HealthRow = typeof shareHealth.$inferSelect;

function effectiveState(row: HealthRow): ShareState {
  // Scrub damage and a failed authentication in the owner's browser outlive listings: the relay lists the
  // digest it recorded, not what its disk now holds or what it serves.
  return (row.scrubDamage && row.scrubDamage.length > 0) || row.authFailedAt !== null ? 'damaged' : row.state;
}

function effectiveDetail(row: HealthRow): string {
  if (row.authFailedAt !== null) return `failed authentication in the owner's browser after a repair; repair queued`;
  if (row.scrubDamage && row.scrubDamage.length > 0 && row.state === 'ok') {
    return `scrub found ${row.scrubDamage.length} damaged chunk(s): ${row.scrubDamage.slice(0, 10).join(', ')}${row.scrubDamage.length > 10 ? ', …' : ''}`;
  }
  return row.detail;
}

/** A file's health from its placements (relay id and name, in display order) and its check rows. */
export function fileHealthOf(k: number, n: number, where: Array<{ relayId: string; name: string }>, rows: HealthRow[]): FileHealthView | null {
  const byRelay = new Map(rows.map((r) => [r.relayId, r]));
  const checked = where.map((p) => byRelay.get(p.relayId)).filter((r): r is HealthRow => r !== undefined);
  if (checked.length === 0) return null;
  const shares = where.map((p): ShareHealthView => {
    const row = byRelay.get(p.relayId);
    return row ? { relayId: p.relayId, name: p.name, state: effectiveState(row), detail: effectiveDetail(row) } : { relayId: p.relayId, name: p.name, state: 'unchecked', detail: '' };
  });
  const good = shares.filter((s) => s.state === 'ok').length;
  const oldest = Math.min(...checked.map((r) => r.checkedAt.getTime()));
  return { state: healthState(k, n, good), checkedAt: new Date(oldest).toISOString(), shares };
}

/**
 * Adds `health` to listed files (null for a file not yet checked or not available). `scope` selects the
 * check rows to read, joined with `files` (one query, not an IN list of every id: see files.ts listFiles).
 */
export async function attachHealth<T extends Listed>(db: Db, listed: T[], scope: SQL | undefined): Promise<Array<T & { health: FileHealthView | null }>> {
  const rows = listed.length === 0 ? [] : await db.select({ h: shareHealth }).from(shareHealth).innerJoin(files, eq(files.id, shareHealth.fileId)).where(scope);
  return withHealth(
    listed,
    rows.map((r) => r.h)
  );
}

/**
 * `attachHealth` for a page of files (files.ts fileViews): `where` selects the check rows by the page's own
 * ids, read by share_health's key with no join (a join with `files` by 500 ids could scan the whole table).
 */
export async function attachHealthOf<T extends Listed>(db: Db, listed: T[], where: SQL): Promise<Array<T & { health: FileHealthView | null }>> {
  return withHealth(listed, listed.length === 0 ? [] : await db.select().from(shareHealth).where(where));
}

interface Listed {
  id: string;
  k: number;
  n: number;
  status: string;
  relays: Array<{ relayId: string; name: string }>;
}

function withHealth<T extends Listed>(listed: T[], rows: HealthRow[]): Array<T & { health: FileHealthView | null }> {
  const byFile = new Map<string, HealthRow[]>();
  for (const h of rows) {
    const list = byFile.get(h.fileId);
    if (list) list.push(h);
    else byFile.set(h.fileId, [h]);
  }
  return listed.map((f) => ({ ...f, health: f.status === 'available' ? fileHealthOf(f.k, f.n, f.relays, byFile.get(f.id) ?? []) : null }));
}

// ---------------------------------------------------------------------------------------------------
// The check

interface ShareCheck {
  relayId: string;
  name: string;
  state: ShareState;
  detail: string;
}

async function checkShare(
  key: SigningKey,
  timeouts: RelayTimeouts,
  file: { id: string; chunkCount: number; epoch: number },
  p: { relayId: string; digestRoot: string | null; rootEpoch: number; relay: { url: string; name: string } }
): Promise<ShareCheck> {
  const base = { relayId: p.relayId, name: p.relay.name };
  let listed;
  try {
    listed = await listChunks(key, { id: p.relayId, url: p.relay.url, name: p.relay.name }, file.id, file.chunkCount, timeouts, file.epoch);
  } catch (err) {
    // Offline, slow, or an answer that is not a chunk list (RelayClient bounds all three): not known good.
    return { ...base, state: 'unreachable', detail: hasErrorCode(err) ? err.code : 'no answer' };
  }
  const expected = file.chunkCount + 1;
  const byIndex = new Map(listed.filter((c) => c.index < expected).map((c) => [c.index, c.digest]));
  if (byIndex.size < expected) return { ...base, state: 'missing', detail: `${expected - byIndex.size} of ${expected} chunks missing` };
  // Roots are recorded at commit and by every renewal's switch (renewal.ts); only a file renewed before that
  // (root of an older epoch) is checked for completeness alone.
  if (p.rootEpoch !== file.epoch) return { ...base, state: 'ok', detail: `all chunks present at epoch ${file.epoch} (no digest recorded for this epoch)` };
  const root = await digestRoot(Array.from({ length: expected }, (_, i) => byIndex.get(i)!));
  if (p.digestRoot === null || root !== p.digestRoot) return { ...base, state: 'damaged', detail: 'stored chunks differ from those committed' };
  return { ...base, state: 'ok', detail: '' };
}

function damageSummary(bad: ShareCheck[]): string {
  return bad.map((s) => `${s.state} on ${s.name}${s.detail ? ` (${s.detail})` : ''}`).join('; ');
}

/**
 * Checks every share of one available file now and records the result. The history of the file's owner
 * gets an entry when the check finds a share missing or damaged that was not already known to be (a
 * relay that is only offline is not damage, and a known loss is not re-reported every period).
 */
export async function checkFile(db: Db, key: SigningKey, fileId: string, timeouts: RelayTimeouts = DEFAULT_RELAY_TIMEOUTS, now = new Date()): Promise<FileHealthView | null> {
  const [file] = await db
    .select()
    .from(files)
    .where(and(eq(files.id, fileId), eq(files.status, 'available')));
  if (!file) return null;
  const where = (await db.select({ p: placements, relay: relays }).from(placements).innerJoin(relays, eq(relays.id, placements.relayId)).where(eq(placements.fileId, fileId)))
    .map((r) => ({ ...r.p, relay: r.relay }))
    .sort((a, b) => a.relay.name.localeCompare(b.relay.name));
  const results = await Promise.all(where.map((p) => checkShare(key, timeouts, file, p)));
  const before = new Map((await db.select().from(shareHealth).where(eq(shareHealth.fileId, fileId))).map((r) => [r.relayId, r]));
  for (const r of results) {
    await db
      .insert(shareHealth)
      .values({ fileId, relayId: r.relayId, state: r.state, detail: r.detail, checkedAt: now })
      .onConflictDoUpdate({ target: [shareHealth.fileId, shareHealth.relayId], set: { state: r.state, detail: r.detail, checkedAt: now } });
  }
  const damaged = (s: ShareState) => s === 'missing' || s === 'damaged';
  const found = results.filter((r) => damaged(r.state) && !(before.get(r.relayId) && damaged(before.get(r.relayId)!.state)));
  const rows = await db.select().from(shareHealth).where(eq(shareHealth.fileId, fileId));
  const view = fileHealthOf(
    file.k,
    file.n,
    where.map((p) => ({ relayId: p.relayId, name: p.relay.name })),
    rows
  );
  if (found.length > 0 && view) {
    await record(db, { userId: file.ownerId, operation: 'check', fileId, fileName: file.name, result: 'error', detail: `${view.state.replace('_', ' ')}: ${damageSummary(found)}` });
  }
  // Repair verifies what it rebuilt against the root of the file's current epoch: without one (a file renewed
  // before roots were kept per epoch) damage is reported, not repaired.
  if (view && where.every((p) => p.rootEpoch === file.epoch)) await scheduleRepairs(db, file.k, fileId, view, now);
  return view;
}

/** Repairs (repair.ts) for every missing or damaged share, when k good shares can rebuild them. */
async function scheduleRepairs(db: Db, k: number, fileId: string, view: FileHealthView, now: Date): Promise<void> {
  if (view.shares.filter((s) => s.state === 'ok').length < k) return;
  for (const s of view.shares) if (s.state === 'missing' || s.state === 'damaged') await enqueueRepair(db, fileId, s.relayId, now);
}

/**
 * Enqueues a durable `check-file` job for every available file with a share not checked within
 * `checkingMs` (at most `limit` per call; the rest at the next maintenance). Jobs are idempotent per file,
 * so a file whose check is still pending is not queued twice, and any coordinator replica may run them.
 */
export async function scheduleChecks(db: Db, checkingMs: number, now = new Date(), limit = 500): Promise<number> {
  const cutoff = new Date(now.getTime() - checkingMs);
  const due = await db
    .select({ id: files.id })
    .from(files)
    .where(
      and(
        eq(files.status, 'available'),
        sql`exists (select 1 from ${placements} p left join ${shareHealth} h on h.file_id = p.file_id and h.relay_id = p.relay_id
                    where p.file_id = ${files.id} and (h.checked_at is null or h.checked_at < ${cutoff.toISOString()}))`
      )
    )
    .orderBy(files.id)
    .limit(limit);
  for (const f of due) await enqueueCheck(db, f.id, now);
  return due.length;
}

/** Queues a check of one file's shares (idempotent: a check already pending is left as it is). */
export function enqueueCheck(db: Db, fileId: string, now = new Date()): Promise<void> {
  return enqueue(db, 'check-file', fileId, { fileId }, now);
}

export function healthJobHandlers(db: Db, key: SigningKey, timeouts: RelayTimeouts = DEFAULT_RELAY_TIMEOUTS) {
  return {
    'check-file': async (payload: Record<string, unknown>) => {
      await checkFile(db, key, String(payload.fileId), timeouts);
    }
  };
}

// ---------------------------------------------------------------------------------------------------
// Counts for administrators

export type HealthCounts = Record<HealthState | 'unchecked', number>;

/** How many available files are in each state (and not yet checked), over every user's files. */
export async function healthCounts(db: Db): Promise<HealthCounts> {
  const list = await db.select().from(files).where(eq(files.status, 'available'));
  const ps = await db
    .select({ fileId: placements.fileId, relayId: placements.relayId, name: relays.name })
    .from(placements)
    .innerJoin(files, eq(files.id, placements.fileId))
    .innerJoin(relays, eq(relays.id, placements.relayId))
    .where(eq(files.status, 'available'));
  const rows = await db.select({ h: shareHealth }).from(shareHealth).innerJoin(files, eq(files.id, shareHealth.fileId)).where(eq(files.status, 'available'));
  const where = new Map<string, Array<{ relayId: string; name: string }>>();
  for (const p of ps) where.set(p.fileId, [...(where.get(p.fileId) ?? []), p]);
  const checks = new Map<string, HealthRow[]>();
  for (const { h } of rows) checks.set(h.fileId, [...(checks.get(h.fileId) ?? []), h]);
  const counts: HealthCounts = { healthy: 0, degraded: 0, at_risk: 0, unrecoverable: 0, unchecked: 0 };
  for (const f of list) counts[fileHealthOf(f.k, f.n, where.get(f.id) ?? [], checks.get(f.id) ?? [])?.state ?? 'unchecked']++;
  return counts;
}

// ---------------------------------------------------------------------------------------------------
// Scrub reports from relays

/**
 * A relay's signed scrub report (`POST /api/relays/scrub`): the chunks whose stored bytes no longer match
 * the digest recorded at PUT. Signed, timestamped and replay-proof like a heartbeat. A report is the
 * relay's whole scrub, so it replaces what that relay reported before: chunks it no longer names are
 * clean again. A relay can only mark its own shares (rows keyed by its id) and only of files it holds.
 */
export async function acceptScrubReport(db: Db, body: Uint8Array, signature: string | null, now = new Date()): Promise<{ damagedFiles: number }> {
  const { message: report } = await acceptSignedRelayMessage(db, RELAY_SCRUB_PATH, body, signature, parseScrubReport, now);
  const byFile = new Map<string, number[]>();
  for (const c of report.corrupt) byFile.set(c.fileId, [...(byFile.get(c.fileId) ?? []), c.index]);
  const held =
    byFile.size === 0
      ? []
      : await db
          .select({ file: files })
          .from(placements)
          .innerJoin(files, eq(files.id, placements.fileId))
          .where(and(eq(placements.relayId, report.relayId), inArray(placements.fileId, [...byFile.keys()]), eq(files.status, 'available')));
  const [relay] = await db.select({ name: relays.name }).from(relays).where(eq(relays.id, report.relayId));
  // One transaction: a reader never sees the relay's old damage cleared before the new damage is set.
  await db.transaction(async (tx) => {
    const before = new Map((await tx.select().from(shareHealth).where(eq(shareHealth.relayId, report.relayId))).map((r) => [r.fileId, r]));
    await tx.update(shareHealth).set({ scrubDamage: null }).where(eq(shareHealth.relayId, report.relayId));
    for (const { file } of held) {
      const indexes = [...new Set(byFile.get(file.id))].sort((a, b) => a - b);
      const prev = before.get(file.id);
      await tx
        .insert(shareHealth)
        .values({ fileId: file.id, relayId: report.relayId, state: prev?.state ?? 'ok', detail: prev?.detail ?? '', scrubDamage: indexes, checkedAt: prev?.checkedAt ?? now })
        .onConflictDoUpdate({ target: [shareHealth.fileId, shareHealth.relayId], set: { scrubDamage: indexes } });
      // Damage already reported is not recorded again at every scrub.
      const known = prev?.scrubDamage ?? [];
      if (indexes.some((ix) => !known.includes(ix))) {
        await record(tx, {
          userId: file.ownerId,
          operation: 'check',
          fileId: file.id,
          fileName: file.name,
          result: 'error',
          detail: `damaged on ${relay?.name ?? report.relayId}: scrub found ${indexes.length} chunk(s) with bit rot`
        });
      }
    }
  });
  for (const { file } of held) {
    const view = await fileHealthFor(db, file);
    if (view) await scheduleRepairs(db, file.k, file.id, view, now);
  }
  return { damagedFiles: held.length };
}

/** A file's health for its owner or a grantee (`visible` is file-access.ts's access check). */
export async function fileHealthFor(db: Db, file: { id: string; k: number; n: number }): Promise<FileHealthView | null> {
  const where = await db.select({ relayId: placements.relayId, name: relays.name }).from(placements).innerJoin(relays, eq(relays.id, placements.relayId)).where(eq(placements.fileId, file.id));
  where.sort((a, b) => a.name.localeCompare(b.name));
  const rows = await db.select().from(shareHealth).where(eq(shareHealth.fileId, file.id));
  return fileHealthOf(file.k, file.n, where, rows);
}
