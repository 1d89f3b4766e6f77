/**
 * The administrator's "replace storage server R by S at a fresh x" (issue #16; shared/docs/renewal.md,
 * "Replacing a relay at a fresh x"): checks the request, queues one `renew-replace` job per file of R
 * (renewal-replace.ts enqueueReplacement) and records it in the history. The jobs do the work during the next
 * renewal of each file; R's copy is deleted by the release job after the grace period.
 *
 * Refusals, each with a stable code (http.ts maps them to a status):
 *   malformed body (not an object, `to` missing or not a relay id, other fields)      BAD_REQUEST 400
 *   R = S                                                                             WRONG_VALUE 400
 *   R or S unknown                                                                    NOT_FOUND   404
 *   R not in service (draining, lost, retired); S not in service, not enrolled or offline; a replacement of R already
 *   queued or running (a replayed request lands here); nothing to move (R holds no
 *   share, or S already holds a share of every file of R)                             CONFLICT    409
 * A replay is refused with 409 rather than answered 200 so the administrator sees that nothing new was
 * queued; two racing requests cannot queue twice either, as jobs are unique by (kind, file:R).
 */
import { and, eq, inArray } from 'drizzle-orm';
import { KofnError, RELAY_ID_PATTERN } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, jobs, placements, relays } from './db/schema.js';
import { record } from './history.js';
import { enqueueReplacement } from './renewal-replace.js';
import { REPLACE_JOB, pendingReplacements } from './replace-jobs.js';

export interface ReplacementView {
  from: string;
  to: string;
  /** Files whose share moves from R to S (one job each). */
  queued: number;
  /** Files of R that S already holds a share of: they cannot move onto S and stay where they are. */
  skipped: number;
}

/** The body `{ "to": "<relay id>" }`, nothing else. */
function targetOf(body: Record<string, unknown>): string {
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== 'to' || typeof body.to !== 'string' || !RELAY_ID_PATTERN.test(body.to)) {
    throw new KofnError('BAD_REQUEST', 'Expected { "to": <storage server id> }.');
  }
  return body.to;
}

/** Queues the replacement of relay `rawFrom` by the relay named in `body` (administrator); see the module comment. */
export async function startReplacement(db: Db, adminId: string, rawFrom: unknown, body: Record<string, unknown>, offlineAfterMs: number, now = new Date()): Promise<ReplacementView> {
  if (typeof rawFrom !== 'string' || !RELAY_ID_PATTERN.test(rawFrom)) throw new KofnError('NOT_FOUND', 'No such storage server.');
  const from = rawFrom;
  const to = targetOf(body);
  if (from === to) throw new KofnError('WRONG_VALUE', 'A storage server cannot replace itself: choose another one.');
  const rows = await db
    .select()
    .from(relays)
    .where(inArray(relays.id, [from, to]));
  const source = rows.find((r) => r.id === from);
  const target = rows.find((r) => r.id === to);
  if (!source || !target) throw new KofnError('NOT_FOUND', 'No such storage server.');
  // A draining or lost relay's shares are already being moved or rebuilt by the drain job (relay-lifecycle.ts);
  // a renewal replacing them at the same time would race it. A retired one holds nothing.
  if (source.lifecycle !== 'active') throw new KofnError('CONFLICT', `Storage server ${source.name} is ${source.lifecycle}: its shares are not to be replaced.`);
  if (target.lifecycle !== 'active') throw new KofnError('CONFLICT', `Storage server ${target.name} is not in service (${target.lifecycle}).`);
  if (target.publicKey === null) throw new KofnError('CONFLICT', `Storage server ${target.name} is not enrolled.`);
  if (now.getTime() - target.lastHeartbeat.getTime() > offlineAfterMs) throw new KofnError('CONFLICT', `Storage server ${target.name} is offline.`);
  if ((await pendingReplacements(db, from)) > 0) throw new KofnError('CONFLICT', `A replacement of storage server ${source.name} is already under way.`);
  const heldFiles = await db
    .select({ fileId: placements.fileId })
    .from(placements)
    .innerJoin(files, eq(files.id, placements.fileId))
    .where(and(eq(placements.relayId, from), eq(files.status, 'available')));
  if (heldFiles.length === 0) throw new KofnError('CONFLICT', `Storage server ${source.name} holds no share to move.`);
  const { queued, unsupported } = await enqueueReplacement(db, from, to, now);
  const skipped = heldFiles.length - queued - unsupported;
  const kept = unsupported ? `, ${unsupported} compact or multi-level file(s) stay (not replaceable at a fresh x yet)` : '';
  if (queued === 0 && skipped === 0)
    throw new KofnError('CONFLICT', `Storage server ${source.name} holds only compact or multi-level files, which cannot be replaced at a fresh x yet: drain it instead.`);
  if (queued === 0) throw new KofnError('CONFLICT', `Storage server ${target.name} already holds a share of every file on ${source.name}${kept}: a server holds at most one share of a file.`);
  await record(db, {
    userId: adminId,
    operation: 'relay_lifecycle',
    fileName: source.name,
    result: 'ok',
    detail: `replacement of storage server ${source.name} by ${target.name} queued: ${queued} file(s) move at the next renewal${skipped ? `, ${skipped} stay (already on ${target.name})` : ''}${kept}`
  });
  return { from, to, queued, skipped };
}

/** What the admin page shows of a relay's replacement: jobs left (pending or running), waiting or given-up ones and their last error, shares still held. */
export interface ReplacementProgress {
  relayId: string;
  /** The relay the latest job moves shares onto. */
  to: string;
  left: number;
  done: number;
  failing: number;
  lastError: string | null;
  /** Placements the relay still holds (of any file). */
  held: number;
}

/** One entry per relay that ever had a replacement queued (renew-replace jobs are keyed `${fileId}:${R}`). */
export async function replacementViews(db: Db): Promise<ReplacementProgress[]> {
  const rows = await db.select().from(jobs).where(eq(jobs.kind, REPLACE_JOB)).orderBy(jobs.updatedAt);
  const byRelay = new Map<string, ReplacementProgress>();
  for (const j of rows) {
    const p = (j.payload ?? {}) as { from?: unknown; to?: unknown };
    if (typeof p.from !== 'string' || typeof p.to !== 'string') continue;
    const v = byRelay.get(p.from) ?? { relayId: p.from, to: p.to, left: 0, done: 0, failing: 0, lastError: null, held: 0 };
    v.to = p.to;
    if (j.status === 'pending' || j.status === 'running') {
      v.left++;
      if (j.lastError) {
        v.failing++;
        v.lastError = j.lastError;
      }
    } else if (j.status === 'done') v.done++;
    else {
      // 'failed': given up by the runner: the share stays on R, the administrator may ask again.
      v.failing++;
      v.lastError = j.lastError;
    }
    byRelay.set(p.from, v);
  }
  if (byRelay.size === 0) return [];
  const counts = await db
    .select({ relayId: placements.relayId, fileId: placements.fileId })
    .from(placements)
    .where(inArray(placements.relayId, [...byRelay.keys()]));
  for (const c of counts) byRelay.get(c.relayId)!.held++;
  return [...byRelay.values()];
}
