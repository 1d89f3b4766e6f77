import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { jobs } from './db/schema.js';
import { backoffMs, claim, complete, enqueue, runOne } from './jobs.js';

describeDatabases('durable jobs on $name', ({ name, open }) => {
  let database: Database & { drop: () => Promise<void> };
  beforeAll(async () => {
    database = await open();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('enqueues idempotently by kind and key', async () => {
    await enqueue(database.db, 'test-idem', 'a', { n: 1 });
    await enqueue(database.db, 'test-idem', 'a', { n: 2 });
    const rows = await database.db.select().from(jobs).where(eq(jobs.kind, 'test-idem'));
    expect(rows).toHaveLength(1);
    expect(rows[0]?.payload).toEqual({ n: 1 });
  });

  it('two workers never run the same job', async () => {
    for (let i = 0; i < 40; i++) await enqueue(database.db, 'count', `job-${i}`, { i });
    const seen = new Map<number, string[]>();
    const handler = async (payload: Record<string, unknown>, job: { lockedBy: string | null }) => {
      const i = payload.i as number;
      seen.set(i, [...(seen.get(i) ?? []), job.lockedBy!]);
      await new Promise((r) => setTimeout(r, 2));
    };
    // On PostgreSQL the workers hold separate connections from the pool and truly overlap.
    const worker = async (id: string) => {
      while (await runOne(database.db, id, { count: handler, 'test-idem': async () => undefined })) {
        // keep claiming until nothing is due
      }
    };
    await Promise.all([worker('w1'), worker('w2'), worker('w3')]);
    expect(seen.size).toBe(40);
    for (const [, by] of seen) expect(by).toHaveLength(1);
    if (name === 'postgres') expect(new Set([...seen.values()].flat()).size).toBeGreaterThan(1);
    const left = await database.db.select().from(jobs).where(eq(jobs.kind, 'count'));
    expect(left.every((j) => j.status === 'done')).toBe(true);
  });

  it('retries a failing job with exponential backoff, then gives up', async () => {
    await enqueue(database.db, 'flaky', 'f1', {});
    await database.db.update(jobs).set({ maxAttempts: 2 }).where(eq(jobs.key, 'f1'));
    const fail = { flaky: async () => Promise.reject(new Error('relay offline')) };
    const t0 = Date.now();
    expect(await runOne(database.db, 'w', fail)).toBe(true);
    let [row] = await database.db.select().from(jobs).where(eq(jobs.key, 'f1'));
    expect(row).toMatchObject({ status: 'pending', attempts: 1, lastError: 'relay offline' });
    expect(row!.runAfter.getTime()).toBeGreaterThanOrEqual(t0 + backoffMs(1) - 50);
    // Not due yet: nothing to claim.
    expect(await runOne(database.db, 'w', fail)).toBe(false);
    await database.db
      .update(jobs)
      .set({ runAfter: new Date(0) })
      .where(eq(jobs.key, 'f1'));
    expect(await runOne(database.db, 'w', fail)).toBe(true);
    [row] = await database.db.select().from(jobs).where(eq(jobs.key, 'f1'));
    expect(row).toMatchObject({ status: 'failed', attempts: 2 });
    expect(backoffMs(1)).toBe(2000);
    expect(backoffMs(30)).toBe(600_000);
  });

  it('takes over a job whose worker died (lease expired), and the dead worker cannot complete it', async () => {
    await enqueue(database.db, 'lease', 'l1', {});
    // Explicit clock instead of a sleep: the second claim happens one second after a one-second lease.
    const t0 = new Date();
    const first = await claim(database.db, 'dead-worker', 1_000, t0);
    expect(first?.key).toBe('l1');
    expect(await claim(database.db, 'early-worker', 60_000, new Date(t0.getTime() + 999))).toBeUndefined();
    const again = await claim(database.db, 'live-worker', 60_000, new Date(t0.getTime() + 1_001));
    expect(again?.key).toBe('l1');
    expect(again?.attempts).toBe(2);
    await complete(database.db, first!); // stale lease: ignored
    let [row] = await database.db.select().from(jobs).where(eq(jobs.key, 'l1'));
    expect(row?.status).toBe('running');
    await complete(database.db, again!);
    [row] = await database.db.select().from(jobs).where(eq(jobs.key, 'l1'));
    expect(row?.status).toBe('done');
  });

  // PGlite has one connection, so no claim can ever meet another's row lock there: PostgreSQL only.
  if (name === 'postgres') {
    it('a claim skips a job another replica holds locked instead of waiting for it (SKIP LOCKED)', async () => {
      // Far in the past, so these two are the first due jobs whatever other tests left behind.
      await enqueue(database.db, 'skip', 's1', {}, new Date(1000));
      await enqueue(database.db, 'skip', 's2', {}, new Date(2000));
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      // Another replica's claim transaction, stopped while it holds s1's row lock.
      const holder = database.db.transaction(async (tx) => {
        await tx.select().from(jobs).where(eq(jobs.key, 's1')).for('update');
        locked();
        await gate;
      });
      await isLocked;
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<'blocked'>((r) => (timer = setTimeout(() => r('blocked'), 5_000)));
      const got = await Promise.race([claim(database.db, 'w2', 60_000), waited]);
      clearTimeout(timer);
      release();
      await holder;
      expect(got === 'blocked' ? got : got?.key).toBe('s2');
    });
  }
});
