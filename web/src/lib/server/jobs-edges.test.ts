/**
 * Durable jobs at their edges (issue #24: Stryker on jobs.ts), with explicit clocks instead of sleeps:
 * re-enqueueing, claim order and lease length, the attempt that makes a failure final, the backoff
 * schedule, a missing handler, a stale worker's failure ignored, and the in-process runner.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq, like } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { jobs } from './db/schema.js';
import { JobRunner, backoffMs, claim, complete, enqueue, fail, listJobs, runOne } from './jobs.js';
import { jobRows } from './testing/job-rows.js';

describeDatabases('durable jobs at their edges on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  beforeAll(async () => {
    database = await open();
  });
  afterAll(async () => {
    await database.drop();
  });
  const { row, only } = jobRows(() => database.db);

  it('re-enqueueing a finished job runs it again from scratch; a pending or running one is left alone', async () => {
    const t = new Date(Date.now() - 1000);
    await enqueue(database.db, 'again', 'again-1', { n: 1 }, t);
    const job = (await claim(database.db, 'w', 60_000))!;
    expect(job.key).toBe('again-1');
    await enqueue(database.db, 'again', 'again-1', { n: 2 }); // running: left alone
    expect(await row('again-1')).toMatchObject({ status: 'running', payload: { n: 1 }, attempts: 1 });
    await fail(database.db, { ...job, maxAttempts: 1 }, 'gone');
    expect((await row('again-1')).status).toBe('failed');
    const runAfter = new Date(Date.now() + 5_000);
    await enqueue(database.db, 'again', 'again-1', { n: 3 }, runAfter);
    expect(await row('again-1')).toMatchObject({ status: 'pending', payload: { n: 3 }, attempts: 0, lastError: null, runAfter });
  });

  it('claims the job due first, with a lease of exactly the time asked, and nothing not yet due', async () => {
    await only('order-');
    const now = new Date();
    await enqueue(database.db, 'order', 'order-late', {}, new Date(now.getTime() - 1_000));
    await enqueue(database.db, 'order', 'order-early', {}, new Date(now.getTime() - 5_000));
    await enqueue(database.db, 'order', 'order-future', {}, new Date(now.getTime() + 1));
    const first = (await claim(database.db, 'w1', 1234, now))!;
    expect(first).toMatchObject({ key: 'order-early', status: 'running', lockedBy: 'w1', attempts: 1 });
    expect(first.lockedUntil!.getTime()).toBe(now.getTime() + 1234);
    expect((await claim(database.db, 'w1', 1234, now))!.key).toBe('order-late');
    expect(await claim(database.db, 'w1', 1234, now)).toBeUndefined();
    // Due at exactly its time.
    expect((await claim(database.db, 'w1', 1234, new Date(now.getTime() + 1)))!.key).toBe('order-future');
  });

  it('a failure is final at the last attempt, keeps the first 500 characters of its error, and waits its backoff', async () => {
    await only('final-');
    await enqueue(database.db, 'final', 'final-1', {}, new Date(0));
    await database.db.update(jobs).set({ maxAttempts: 3 }).where(eq(jobs.key, 'final-1'));
    const now = new Date('2030-01-01T00:00:00Z');
    let job = (await claim(database.db, 'w', 60_000, now))!;
    await fail(database.db, job, 'x'.repeat(600), now);
    expect(await row('final-1')).toMatchObject({ status: 'pending', lockedBy: null, lockedUntil: null, lastError: 'x'.repeat(500) });
    expect((await row('final-1')).runAfter.getTime()).toBe(now.getTime() + 2000);
    job = (await claim(database.db, 'w', 60_000, new Date(now.getTime() + 2000)))!;
    expect(job.attempts).toBe(2);
    await fail(database.db, job, 'again', now);
    expect((await row('final-1')).status).toBe('pending');
    job = (await claim(database.db, 'w', 60_000, new Date(now.getTime() + 10_000)))!;
    expect(job.attempts).toBe(3);
    await fail(database.db, job, 'last', now);
    expect(await row('final-1')).toMatchObject({ status: 'failed', lastError: 'last' });
  });

  it('a worker whose lease was taken over can neither complete nor fail the job', async () => {
    await only('stale-');
    await enqueue(database.db, 'stale', 'stale-1', {}, new Date(0));
    const t0 = new Date();
    const dead = (await claim(database.db, 'dead', 1000, t0))!;
    const live = (await claim(database.db, 'live', 60_000, new Date(t0.getTime() + 1001)))!;
    await fail(database.db, dead, 'late failure');
    await complete(database.db, dead);
    expect(await row('stale-1')).toMatchObject({ status: 'running', lockedBy: 'live', lastError: null });
    await complete(database.db, live);
    expect(await row('stale-1')).toMatchObject({ status: 'done', lockedBy: null, lockedUntil: null });
  });

  it('a job with no handler, or whose handler throws a non-Error, fails with words saying so', async () => {
    await only('nohandler-');
    await enqueue(database.db, 'unknown-kind', 'nohandler-1', {}, new Date(0));
    expect(await runOne(database.db, 'w', {})).toBe(true);
    expect((await row('nohandler-1')).lastError).toBe('no handler for job kind unknown-kind');
    await only('thrown-');
    await enqueue(database.db, 'throws', 'thrown-1', {}, new Date(0));
    // A handler that rejects with something other than an Error: the job still records why it failed.
    const plain: unknown = 'plain text';
    expect(await runOne(database.db, 'w', { throws: () => Promise.reject(plain) })).toBe(true);
    expect((await row('thrown-1')).lastError).toBe('plain text');
  });

  it('lists the most recently changed jobs first, up to the limit', async () => {
    const listed = await listJobs(database.db, 2);
    expect(listed).toHaveLength(2);
    expect(listed[0]!.updatedAt.getTime()).toBeGreaterThanOrEqual(listed[1]!.updatedAt.getTime());
    const all = await listJobs(database.db);
    expect(all.length).toBe((await database.db.select().from(jobs)).length);
  });

  it('backs off 2^n seconds, capped at 10 minutes', () => {
    expect([0, 1, 2, 9, 10, 20, 21, 1000].map(backoffMs)).toEqual([1000, 2000, 4000, 512_000, 600_000, 600_000, 600_000, 600_000]);
  });

  it('the runner runs maintenance, then due jobs one after another, and stops when told', async () => {
    await only('runner-');
    for (const i of [1, 2, 3]) await enqueue(database.db, 'runner', `runner-${i}`, { i }, new Date(0));
    const ran: number[] = [];
    let maintenance = 0;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    let open!: () => void;
    const release = new Promise<void>((r) => (open = r));
    const runner = new JobRunner(
      database.db,
      'runner-worker',
      {
        runner: async (p) => {
          ran.push(p.i as number);
          // The third job holds here until the statuses are read, so what they show is certain.
          if (ran.length === 3) {
            done();
            await release;
          }
        }
      },
      async () => {
        maintenance++;
      },
      60_000, // a long poll: the three jobs run back to back without waiting for it
      3_600_000
    );
    runner.start();
    await finished;
    runner.stop();
    // One after another, due order: when the third runs, the first two are complete.
    expect(ran).toEqual([1, 2, 3]);
    expect(maintenance).toBe(1);
    const rows = await database.db.select().from(jobs).where(like(jobs.key, 'runner-%'));
    expect(Object.fromEntries(rows.map((r) => [r.key, r.status]))).toEqual({ 'runner-1': 'done', 'runner-2': 'done', 'runner-3': 'running' });
    open();
  });
});
