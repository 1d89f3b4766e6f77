/**
 * The coordinator job "replace relay R by relay S with a fresh x during the next renewal" (#15/#16;
 * shared/docs/renewal.md, "Replacing a relay at a fresh x"): one `renew-replace` job per (file, R). Each run
 * renews the file from its current epoch with R left out and S in at a fresh x (renewal.ts renewOnce with a
 * replacement); a renewal of the file that switched first (a scheduled one) only moves the epoch on, and the
 * job renews again from there. Once R holds no placement of the file, R's leftover share (epoch e, and e-1
 * if it is still within its grace) is deleted after the grace period by the drain's release job.
 */
import { and, eq, inArray } from 'drizzle-orm';
import { KofnError, RELAY_ID_PATTERN } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, placements, relays } from './db/schema.js';
import { enqueue, type JobHandler } from './jobs.js';
import { RELEASE_JOB } from './relay-lifecycle.js';
import { RENEWAL_GRACE_MS, RENEWAL_LEASE_MS, renewOnce, type RenewalDeps } from './renewal.js';
import { forgetProgress } from './renewal-resume.js';
import { isTreeFile } from './tree-layouts.js';
import { REPLACE_JOB } from './replace-jobs.js';

export { REPLACE_JOB };

/** Renewals a replacement job runs in one go: another renewal switching first makes one more necessary. */
const MAX_ROUNDS = 3;

/**
 * Queues the replacement of relay `from` by relay `to` for every available file `from` holds a share of and
 * `to` does not; answers how many, and how many files it left out because the fresh-x renewal does not
 * serve them yet: compact files (their data fragments are not Shamir shares: the dealers would have to send
 * the fresh receiver a re-encoded fragment, docs/compact-mode.md) and tree files (renewal skips them,
 * docs/multilevel.md). Such a job could only fail and retry, so none is queued. Both relays must exist;
 * `to` must be in service.
 */
export async function enqueueReplacement(db: Db, from: string, to: string, now = new Date()): Promise<{ queued: number; unsupported: number }> {
  if (!RELAY_ID_PATTERN.test(from) || !RELAY_ID_PATTERN.test(to) || from === to) throw new KofnError('BAD_REQUEST', 'Expected two different storage servers.');
  const rows = await db
    .select()
    .from(relays)
    .where(inArray(relays.id, [from, to]));
  const target = rows.find((r) => r.id === to);
  if (!rows.some((r) => r.id === from) || !target) throw new KofnError('NOT_FOUND', 'No such storage server.');
  if (target.lifecycle !== 'active') throw new KofnError('CONFLICT', 'The target storage server is not in service.');
  const held = await db
    .select({ fileId: placements.fileId, mode: files.mode, layout: files.layout })
    .from(placements)
    .innerJoin(files, eq(files.id, placements.fileId))
    .where(and(eq(placements.relayId, from), eq(files.status, 'available')));
  let queued = 0;
  let unsupported = 0;
  for (const { fileId, mode, layout } of held) {
    if (mode !== 'shamir' || isTreeFile({ layout })) {
      unsupported++;
      continue;
    }
    const onTarget = await db
      .select({ x: placements.x })
      .from(placements)
      .where(and(eq(placements.fileId, fileId), eq(placements.relayId, to)));
    if (onTarget.length) continue;
    await enqueue(db, REPLACE_JOB, `${fileId}:${from}`, { fileId, from, to }, now);
    queued++;
  }
  return { queued, unsupported };
}

/**
 * One replacement: renews with the replacement until the leaving relay holds no placement of the file,
 * then queues the release of its leftover copy after the grace (read tokens minted before the switch may
 * still name it). A check that fails keeps the epoch and throws, so the runner retries with backoff.
 */
export async function replaceOnce(deps: RenewalDeps, payload: { fileId: string; from: string; to: string }, job?: Parameters<JobHandler>[1]): Promise<'replaced' | 'gone'> {
  const { db } = deps;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const [file] = await db.select().from(files).where(eq(files.id, payload.fileId));
    if (file?.status !== 'available') return 'gone';
    const [still] = await db
      .select({ x: placements.x })
      .from(placements)
      .where(and(eq(placements.fileId, file.id), eq(placements.relayId, payload.from)));
    if (!still) {
      const now = deps.now?.() ?? new Date();
      const after = new Date((file.lastRenewalAt ?? now).getTime() + (deps.graceMs ?? RENEWAL_GRACE_MS));
      await enqueue(db, RELEASE_JOB, `${file.id}:${payload.from}`, { fileId: file.id, relayId: payload.from, epoch: file.epoch - 1 }, after);
      return 'replaced';
    }
    const result = await renewOnce(deps, file.id, file.epoch, job, { from: payload.from, to: payload.to });
    if (result === 'rejected') throw new KofnError('RENEWAL_INCOMPLETE', `The renewal replacing a share of ${file.name} failed its check; epoch ${file.epoch} kept.`);
  }
  throw new KofnError('CONFLICT', 'The file kept changing during the replacement; it runs again.');
}

export function replaceHandlers(deps: RenewalDeps): Record<string, JobHandler> {
  return {
    [REPLACE_JOB]: async (payload, job) => {
      try {
        await replaceOnce(deps, { fileId: String(payload.fileId), from: String(payload.from), to: String(payload.to) }, job);
      } catch (err) {
        await forgetProgress(deps.db, job, RENEWAL_LEASE_MS, err);
        throw err;
      }
    }
  };
}
