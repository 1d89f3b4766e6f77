/**
 * Durable jobs: rows in `jobs`, claimed with FOR UPDATE SKIP LOCKED so any number of coordinator
 * replicas (or workers in one process) never run the same job at once; a claim is a lease that expires,
 * so a crashed worker's job is taken over. Failures retry with exponential backoff; handlers must be
 * idempotent (a job may run again after a crash between its work and its completion).
 */
import { and, desc, eq, lt, lte, or, sql } from 'drizzle-orm';
import { KofnError } from '@kofn/shared';
import type { Db } from './db/index.js';
import { jobs } from './db/schema.js';

export type JobRow = typeof jobs.$inferSelect;
export type JobHandler = (payload: Record<string, unknown>, job: JobRow) => Promise<void>;

/**
 * The runners of this process (JobRunner.start): enqueue wakes them, so a job enqueued here starts at once
 * however long an idle runner would otherwise wait for its next poll.
 */
const runners = new Set<() => void>();

export async function enqueue(db: Db, kind: string, key: string, payload: Record<string, unknown>, runAfter = new Date()): Promise<void> {
  await db
    .insert(jobs)
    .values({ kind, key, payload, status: 'pending', runAfter })
    .onConflictDoUpdate({
      target: [jobs.kind, jobs.key],
      // Re-enqueueing a finished job runs it again; a pending or running one is left alone.
      set: { status: 'pending', attempts: 0, runAfter, lastError: null, payload, updatedAt: new Date() },
      setWhere: sql`${jobs.status} in ('done', 'failed')`
    });
  for (const wake of runners) wake();
}

/** Claims one due job (or one whose lease expired) for `worker`, or returns undefined. */
export async function claim(db: Db, worker: string, leaseMs: number, now = new Date()): Promise<JobRow | undefined> {
  return db.transaction(async (tx) => {
    const [due] = await tx
      .select({ id: jobs.id })
      .from(jobs)
      .where(or(and(eq(jobs.status, 'pending'), lte(jobs.runAfter, now)), and(eq(jobs.status, 'running'), lt(jobs.lockedUntil, now))))
      .orderBy(jobs.runAfter, jobs.id)
      .limit(1)
      .for('update', { skipLocked: true });
    if (!due) return undefined;
    const [job] = await tx
      .update(jobs)
      .set({ status: 'running', lockedBy: worker, lockedUntil: new Date(now.getTime() + leaseMs), attempts: sql`${jobs.attempts} + 1`, updatedAt: now })
      .where(eq(jobs.id, due.id))
      .returning();
    return job;
  });
}

export async function complete(db: Db, job: JobRow): Promise<void> {
  await db
    .update(jobs)
    .set({ status: 'done', lockedBy: null, lockedUntil: null, lastError: null, updatedAt: new Date() })
    .where(and(eq(jobs.id, job.id), eq(jobs.lockedBy, job.lockedBy ?? '')));
}

/** Backoff after the n-th failed attempt: 2^n seconds, at most 10 minutes. */
export function backoffMs(attempts: number): number {
  return Math.min(600_000, 1000 * 2 ** Math.min(attempts, 20));
}

export async function fail(db: Db, job: JobRow, error: string, now = new Date()): Promise<void> {
  const final = job.attempts >= job.maxAttempts;
  await db
    .update(jobs)
    .set({
      status: final ? 'failed' : 'pending',
      lockedBy: null,
      lockedUntil: null,
      lastError: error.slice(0, 500),
      runAfter: new Date(now.getTime() + backoffMs(job.attempts)),
      updatedAt: now
    })
    .where(and(eq(jobs.id, job.id), eq(jobs.lockedBy, job.lockedBy ?? '')));
}

/**
 * Extends a running job's lease to `ms` from now (a long job calls it between its steps), optionally with a
 * new payload (what a resumed run continues from); throws CONFLICT when the job is no longer this worker's:
 * another worker took it over after the lease ran out, and this one must stop before its next step.
 */
export async function holdLease(db: Db, job: JobRow, ms: number, payload?: Record<string, unknown>): Promise<void> {
  const held = await db
    .update(jobs)
    .set({ lockedUntil: new Date(Date.now() + ms), updatedAt: new Date(), ...(payload ? { payload } : {}) })
    .where(and(eq(jobs.id, job.id), eq(jobs.lockedBy, job.lockedBy ?? ''), eq(jobs.status, 'running')))
    .returning({ id: jobs.id });
  if (held.length === 0) throw new KofnError('CONFLICT', `The ${job.kind} job was taken over by another worker.`);
}

export async function listJobs(db: Db, limit = 100): Promise<JobRow[]> {
  return db.select().from(jobs).orderBy(desc(jobs.updatedAt)).limit(limit);
}

/** Runs one claimed job through its handler. Returns false when no job was due. */
export async function runOne(db: Db, worker: string, handlers: Record<string, JobHandler>, leaseMs = 60_000): Promise<boolean> {
  const job = await claim(db, worker, leaseMs);
  if (!job) return false;
  const handler = handlers[job.kind];
  try {
    if (!handler) throw new Error(`no handler for job kind ${job.kind}`);
    await handler(job.payload as Record<string, unknown>, job);
    await complete(db, job);
  } catch (err) {
    await fail(db, job, err instanceof Error ? err.message : String(err));
  }
  return true;
}

/**
 * The in-process scheduler: polls for due jobs and runs periodic maintenance. An idle runner (no job due at its
 * last poll) doubles its wait from `pollMs` up to `maxIdleMs`; a job found, or one enqueued in this process
 * (enqueue wakes it), brings it back to polling at once and then every `pollMs`. Idle polls were most of an idle
 * coordinator's CPU on PGlite (a profile: a claim's three statements every second, and the garbage they left,
 * about 1% of a core), paid by every coordinator a test run keeps up. What waits up to `maxIdleMs` instead of
 * `pollMs`: a retry whose backoff ran out, and a job another replica enqueued.
 */
export class JobRunner {
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;
  #lastMaintenance = 0;
  #idleMs: number;
  #woken = false;
  readonly #wake = (): void => {
    this.#idleMs = this.pollMs;
    if (this.#stopped) return;
    // Mid-tick: that tick schedules the next at once (a job enqueued in a transaction may not be visible to it).
    if (this.#running) {
      this.#woken = true;
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#schedule(0);
  };

  constructor(
    private readonly db: Db,
    private readonly worker: string,
    private readonly handlers: Record<string, JobHandler>,
    private readonly maintenance: () => Promise<void>,
    private readonly pollMs = 1000,
    private readonly maintenanceMs = 60_000,
    private readonly maxIdleMs = pollMs
  ) {
    this.#idleMs = pollMs;
  }

  start(): void {
    this.#stopped = false;
    runners.add(this.#wake);
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    runners.delete(this.#wake);
    if (this.#timer) clearTimeout(this.#timer);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), ms);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    let busy = false;
    try {
      if (Date.now() - this.#lastMaintenance >= this.maintenanceMs) {
        this.#lastMaintenance = Date.now();
        await this.maintenance();
      }
      busy = await runOne(this.db, this.worker, this.handlers);
    } catch (err) {
      console.error('kofn: job runner error', err instanceof Error ? err.message : err);
    } finally {
      this.#running = false;
      if (busy || this.#woken) {
        this.#idleMs = this.pollMs;
        this.#schedule(0);
      } else {
        this.#schedule(this.#idleMs);
        this.#idleMs = Math.min(this.#idleMs * 2, Math.max(this.maxIdleMs, this.pollMs));
      }
      this.#woken = false;
    }
  }
}
