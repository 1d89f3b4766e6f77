/**
 * A renewal resumed by range after a coordinator restart (#15; shared/docs/renewal.md, "Resuming by range"):
 * after each deal range every dealer completed, the job notes in its payload (with its lease) the epoch it
 * renews from, the dealers, the fresh x of a replacement, and the first chunk not yet dealt. A run that finds
 * this note (the job taken over after the coordinator died) skips the chunks dealt, drops only the
 * contributions from that chunk on (the range that was cut midway), and deals on from there. Prepare re-walks every range (a staged chunk
 * answers its digest without work) and the check starts over (its key is drawn after every prepare).
 *
 * The same note serves a retry after a relay restart (#15, relay killed mid-deal or mid-prepare): relays keep
 * contributions, check pads and staged chunks in their chunk stores, so a relay that comes back holds all it
 * acknowledged, and the retry resumes instead of dealing the whole file again. The note is forgotten when the
 * check begins (it consumes the pads) and after any failure that is not a relay outage.
 */
import { hasErrorCode } from '@kofn/shared';
import type { Db } from './db/index.js';
import { holdLease, type JobRow } from './jobs.js';

export interface RenewalProgress {
  epoch: number;
  dxs: number[];
  fx?: number;
  /** The first chunk not yet dealt by every dealer (chunks before it are; in chunks, not ranges, so a run with another step size resumes right). */
  next: number;
}

/** The job's payload without the progress note. */
function base(job: JobRow): Record<string, unknown> {
  const { resume: _resume, ...rest } = job.payload as Record<string, unknown>;
  return rest;
}

/** The progress a run of this job noted for a renewal from `epoch`, if any and well-formed. */
export function notedProgress(job: JobRow | undefined, epoch: number): RenewalProgress | undefined {
  const r = (job?.payload as { resume?: Partial<RenewalProgress> } | undefined)?.resume;
  const next = r?.next;
  if (r?.epoch !== epoch || !Array.isArray(r.dxs) || !r.dxs.every((x) => Number.isInteger(x)) || next === undefined || !Number.isSafeInteger(next) || next < 1) return undefined;
  if (r.fx !== undefined && !Number.isInteger(r.fx)) return undefined;
  return { epoch, dxs: r.dxs, next, ...(r.fx !== undefined ? { fx: r.fx } : {}) };
}

/**
 * The chunk to resume dealing at: the noted one when the dealers and the fresh x are the same as this run's
 * (they are chosen the same way from the same placements), else 0 (start over).
 */
export function resumeFrom(noted: RenewalProgress | undefined, dxs: readonly number[], fx: number | undefined, chunkCount: number): number {
  if (noted?.dxs.join() !== dxs.join() || noted.fx !== fx || noted.next > chunkCount + 1) return 0;
  return noted.next;
}

/** The deal ranges still to do from chunk `next`: the ranges that end at or after it, the first cut to start there. */
export function rangesFrom(ranges: ReadonlyArray<readonly [number, number]>, next: number): Array<readonly [number, number]> {
  return ranges.filter(([, to]) => to >= next).map(([from, to]) => [Math.max(from, next), to] as const);
}

/** Notes progress with the lease (throws CONFLICT when another worker holds the job). */
export function noteProgress(db: Db, job: JobRow, leaseMs: number, progress: RenewalProgress): Promise<void> {
  return holdLease(db, job, leaseMs, { ...base(job), resume: progress });
}

/**
 * Forgets the note before the check: the check consumes every relay's check pads and its key is drawn fresh,
 * so a run that stops during or after it must start over (a check is never rerun on the same pads).
 */
export function clearProgress(db: Db, job: JobRow, leaseMs: number): Promise<void> {
  return holdLease(db, job, leaseMs, base(job));
}

/**
 * Errors that say a relay (or the path to it) went away for a while: a relay killed and restarted mid-deal
 * or mid-prepare keeps every contribution, check pad and staged chunk it acknowledged (all in its chunk
 * store), so the note stands and the retry resumes from it.
 */
const OUTAGES = ['RELAYS_OFFLINE', 'RELAY_TIMEOUT', 'UNAVAILABLE', 'RATE_LIMITED'] as const;

export function isRelayOutage(err: unknown): boolean {
  return OUTAGES.some((code) => hasErrorCode(err, code));
}

/**
 * After a failure: keeps the note when a relay went away during the deal or the prepare (the retry resumes
 * there), and when the job was taken over (the new holder's note stands); forgets it otherwise, so the
 * retry starts over from a dropped epoch (a refused contribution, a failed or interrupted check).
 */
export async function forgetProgress(db: Db, job: JobRow, leaseMs: number, err: unknown): Promise<void> {
  if (hasErrorCode(err, 'CONFLICT') || isRelayOutage(err)) return;
  await holdLease(db, job, leaseMs, base(job)).catch(() => undefined);
}
