/**
 * Durable jobs, what Stryker's jobs.ts run left alive (issue #24): holding a lease (its length from now, a
 * new payload, CONFLICT once the job is someone else's or finished), the worker a job object without one is
 * read as, the claim's SKIP LOCKED as PGlite can show it, and the runner's schedule: the poll interval after
 * a failed tick, what stop() cancels, a tick that comes due while another runs, and maintenance exactly at
 * its interval. Clocks and timers are vitest's fake ones, never sleeps.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { KofnError } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import type { Database, Db } from './db/index.js';
import { JobRunner, claim, complete, enqueue, fail, holdLease } from './jobs.js';
import { jobRows } from './testing/job-rows.js';
import { loggedDb } from './testing/logged-db.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describeDatabases('durable jobs, leases held and job objects without a worker, on $name', ({ name, open }) => {
  let database: Database & { drop: () => Promise<void> };
  beforeAll(async () => {
    database = await open();
  });
  afterAll(async () => {
    await database.drop();
  });
  const { row, only } = jobRows(() => database.db);

  it('holding a lease sets it to exactly the time asked from now, stores a new payload when given one, and keeps the payload otherwise', async () => {
    await only('hold-');
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    await enqueue(database.db, 'hold', 'hold-1', { step: 0 }, new Date(0));
    const job = (await claim(database.db, 'w', 1_000))!;
    expect(job).toMatchObject({ key: 'hold-1', lockedBy: 'w', lockedUntil: new Date(T0 + 1_000) });
    vi.setSystemTime(T0 + 500);
    await holdLease(database.db, job, 60_000);
    expect(await row('hold-1')).toMatchObject({ status: 'running', lockedBy: 'w', lockedUntil: new Date(T0 + 60_500), updatedAt: new Date(T0 + 500), payload: { step: 0 } });
    // Past the first lease but within the held one: nobody else can claim it.
    vi.setSystemTime(T0 + 1_500);
    expect(await claim(database.db, 'other', 60_000)).toBeUndefined();
    await holdLease(database.db, job, 30_000, { step: 1 });
    expect(await row('hold-1')).toMatchObject({ status: 'running', lockedBy: 'w', lockedUntil: new Date(T0 + 31_500), updatedAt: new Date(T0 + 1_500), payload: { step: 1 } });
    await complete(database.db, job);
    expect((await row('hold-1')).status).toBe('done');
  });

  it('holding a lease refuses with CONFLICT, changing nothing, once another worker took the job over or it is finished', async () => {
    await only('taken-');
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    await enqueue(database.db, 'taken', 'taken-1', { step: 0 }, new Date(0));
    const dead = (await claim(database.db, 'dead', 1_000))!;
    vi.setSystemTime(T0 + 1_001);
    const live = (await claim(database.db, 'live', 60_000))!;
    expect(live.key).toBe('taken-1');
    const before = await row('taken-1');
    vi.setSystemTime(T0 + 2_000);
    const refused: unknown = await holdLease(database.db, dead, 60_000, { step: 9 }).then(
      () => 'held',
      (err: unknown) => err
    );
    expect(refused).toBeInstanceOf(KofnError);
    expect(refused).toMatchObject({ code: 'CONFLICT', message: 'The taken job was taken over by another worker.' });
    expect(await row('taken-1')).toEqual(before);
    await complete(database.db, live);
    // Finished: not even the worker that ran it holds it any more.
    await expect(holdLease(database.db, live, 60_000)).rejects.toMatchObject({ code: 'CONFLICT', message: 'The taken job was taken over by another worker.' });
    expect(await row('taken-1')).toMatchObject({ status: 'done', lockedBy: null, lockedUntil: null, payload: { step: 0 } });
  });

  it('a job object that names no worker is read as the worker named "" (which no real worker is): it acts on no other worker\u2019s job', async () => {
    await only('nameless-');
    await enqueue(database.db, 'nameless', 'nameless-1', {}, new Date(0));
    const held = (await claim(database.db, 'w', 60_000))!;
    const stray = { ...held, lockedBy: null };
    await expect(holdLease(database.db, stray, 60_000)).rejects.toMatchObject({ code: 'CONFLICT', message: 'The nameless job was taken over by another worker.' });
    await fail(database.db, stray, 'not mine');
    await complete(database.db, stray);
    expect(await row('nameless-1')).toMatchObject({ status: 'running', lockedBy: 'w', lastError: null, attempts: 1 });
    await complete(database.db, held);

    // The fallback is the empty name itself: a job held by a worker named "" is the one such an object matches.
    await enqueue(database.db, 'nameless', 'nameless-2', { step: 0 }, new Date(0));
    const own = (await claim(database.db, '', 60_000))!;
    expect(own).toMatchObject({ key: 'nameless-2', lockedBy: '' });
    await holdLease(database.db, { ...own, lockedBy: null }, 60_000, { step: 1 });
    expect(await row('nameless-2')).toMatchObject({ status: 'running', lockedBy: '', payload: { step: 1 } });
    await fail(database.db, { ...own, lockedBy: null }, 'failed by name ""');
    expect(await row('nameless-2')).toMatchObject({ status: 'pending', lockedBy: null, lastError: 'failed by name ""', attempts: 1 });
    const again = (await claim(database.db, '', 60_000, new Date(Date.now() + 3_000)))!;
    expect(again).toMatchObject({ key: 'nameless-2', lockedBy: '', attempts: 2 });
    await complete(database.db, { ...again, lockedBy: null });
    expect(await row('nameless-2')).toMatchObject({ status: 'done', lockedBy: null, lastError: null });
  });

  it('a claim asks for its row with FOR UPDATE SKIP LOCKED (what PGlite, one connection, can show; jobs.test.ts shows the effect on PostgreSQL)', async () => {
    await only('sql-');
    await enqueue(database.db, 'sql', 'sql-1', {}, new Date(0));
    const { db: logged, statements } = loggedDb(database.db, name);
    const job = (await claim(logged, 'w', 60_000))!;
    expect(job.key).toBe('sql-1');
    const selects = statements.filter((s) => s.startsWith('select '));
    expect(selects).toHaveLength(1);
    expect(selects[0]).toMatch(/^select "id" from "jobs" where .* limit \$\d+ for update skip locked$/);
    await complete(database.db, job);
  });
});

describe('the job runner\u2019s schedule (fake timers and clock, a database stub)', () => {
  /**
   * A tick's database work is `claim`'s transaction; the stub answers it with `answer()` (undefined: no job
   * due). With no real I/O, a whole tick runs in microtasks, so one `setImmediate` (not faked) lets it finish.
   */
  const stubDb = (answer: () => Promise<unknown>) => {
    const calls = { transactions: 0 };
    const transaction = () => {
      calls.transactions++;
      return answer();
    };
    // Only `transaction` is reached by runOne (through claim); the cast names the stub a Db for the runner.
    return { db: { transaction } as unknown as Db, calls };
  };
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  const fakeTimers = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: T0 });

  it('a failed tick is logged with its error, and the next one waits the poll interval, not 0', async () => {
    fakeTimers();
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const lost: unknown = 'connection lost'; // a rejection that is no Error: logged as it is
    const { db, calls } = stubDb(() => Promise.reject(lost));
    let maintenance = 0;
    const runner = new JobRunner(
      db,
      'w',
      {},
      async () => {
        maintenance++;
        if (maintenance === 1) throw new Error('maintenance failed');
      },
      1_000,
      0
    );
    runner.start();
    vi.advanceTimersByTime(0);
    await settle();
    expect(maintenance).toBe(1);
    expect(calls.transactions).toBe(0);
    expect(logged.mock.calls).toEqual([['kofn: job runner error', 'maintenance failed']]);
    vi.advanceTimersByTime(999);
    await settle();
    expect(maintenance).toBe(1);
    vi.advanceTimersByTime(1);
    await settle();
    expect(maintenance).toBe(2);
    expect(calls.transactions).toBe(1);
    expect(logged.mock.calls).toEqual([
      ['kofn: job runner error', 'maintenance failed'],
      ['kofn: job runner error', 'connection lost']
    ]);
    runner.stop();
  });

  it('stop() while the runner waits for its next poll cancels that poll', async () => {
    fakeTimers();
    const { db, calls } = stubDb(() => Promise.resolve(undefined));
    let maintenance = 0;
    const runner = new JobRunner(
      db,
      'w',
      {},
      async () => {
        maintenance++;
      },
      1_000,
      0
    );
    runner.start();
    vi.advanceTimersByTime(0);
    await settle();
    vi.advanceTimersByTime(1_000);
    await settle();
    expect([maintenance, calls.transactions]).toEqual([2, 2]);
    runner.stop();
    vi.advanceTimersByTime(10_000);
    await settle();
    expect([maintenance, calls.transactions]).toEqual([2, 2]);
  });

  /** A runner polling every second on a stub database, whose first maintenance waits until `release()`. */
  function gatedRunner() {
    const { db, calls } = stubDb(() => Promise.resolve(undefined));
    const ran = { maintenance: 0 };
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const maintain = async () => {
      ran.maintenance++;
      if (ran.maintenance === 1) await gate;
    };
    return { runner: new JobRunner(db, 'w', {}, maintain, 1_000, 0), calls, ran, release };
  }

  it('stop() during a tick lets that tick finish and schedules no other', async () => {
    fakeTimers();
    const { runner, calls, ran, release } = gatedRunner();
    runner.start();
    vi.advanceTimersByTime(0);
    expect(ran.maintenance).toBe(1);
    runner.stop();
    release();
    await settle();
    expect(calls.transactions).toBe(1); // the tick went on to look for a job
    vi.advanceTimersByTime(10_000);
    await settle();
    expect([ran.maintenance, calls.transactions]).toEqual([1, 1]);
  });

  it('a tick that comes due while another still runs (start() again mid-tick) does nothing, and the runner carries on', async () => {
    fakeTimers();
    const { runner, calls, ran, release } = gatedRunner();
    runner.start();
    vi.advanceTimersByTime(0);
    runner.start();
    vi.advanceTimersByTime(0);
    await settle();
    expect([ran.maintenance, calls.transactions]).toEqual([1, 0]);
    release();
    await settle();
    expect([ran.maintenance, calls.transactions]).toEqual([1, 1]);
    vi.advanceTimersByTime(1_000);
    await settle();
    expect([ran.maintenance, calls.transactions]).toEqual([2, 2]);
    runner.stop();
  });

  it('an idle runner doubles its wait up to maxIdleMs; a job enqueued in this process wakes it at once', async () => {
    fakeTimers();
    const { db: stub, calls } = stubDb(() => Promise.resolve(undefined));
    // enqueue's insert, answered at once (no row kept: the stub's claim finds no job either way).
    const db = Object.assign(stub, { insert: () => ({ values: () => ({ onConflictDoUpdate: () => Promise.resolve() }) }) });
    const runner = new JobRunner(db, 'w', {}, async () => undefined, 1_000, 600_000, 8_000);
    runner.start();
    const polls: number[] = [];
    let seen = 0;
    for (let ms = 0; ms <= 40_000; ms += 500) {
      vi.advanceTimersByTime(ms === 0 ? 0 : 500);
      await settle();
      if (calls.transactions !== seen) polls.push(ms);
      seen = calls.transactions;
    }
    expect(polls).toEqual([0, 1_000, 3_000, 7_000, 15_000, 23_000, 31_000, 39_000]);
    // 40 s in: the next poll is due at 47 s. An enqueue polls now, then every second again.
    await enqueue(db, 'k', 'key', {});
    vi.advanceTimersByTime(0);
    await settle();
    expect(calls.transactions).toBe(seen + 1);
    vi.advanceTimersByTime(999);
    await settle();
    expect(calls.transactions).toBe(seen + 1);
    vi.advanceTimersByTime(1);
    await settle();
    expect(calls.transactions).toBe(seen + 2);
    runner.stop();
    // A stopped runner is not woken.
    await enqueue(db, 'k', 'key', {});
    vi.advanceTimersByTime(0);
    await settle();
    expect(calls.transactions).toBe(seen + 2);
  });

  it('an enqueue during a tick makes the next poll come at once, not after the idle wait', async () => {
    fakeTimers();
    const { runner, calls, ran, release } = gatedRunner();
    const db = { insert: () => ({ values: () => ({ onConflictDoUpdate: () => Promise.resolve() }) }) } as unknown as Db;
    runner.start();
    vi.advanceTimersByTime(0);
    expect(ran.maintenance).toBe(1);
    await enqueue(db, 'k', 'key', {});
    release();
    await settle();
    expect(calls.transactions).toBe(1);
    vi.advanceTimersByTime(0);
    await settle();
    expect(calls.transactions).toBe(2);
    runner.stop();
  });

  it('maintenance runs again exactly when its interval has passed, not a poll later', async () => {
    fakeTimers();
    const { db, calls } = stubDb(() => Promise.resolve(undefined));
    const at: number[] = [];
    const runner = new JobRunner(db, 'w', {}, async () => void at.push(Date.now()), 20_000, 60_000);
    runner.start();
    vi.advanceTimersByTime(0);
    await settle();
    for (let i = 0; i < 6; i++) {
      vi.advanceTimersByTime(20_000);
      await settle();
    }
    runner.stop();
    expect(calls.transactions).toBe(7);
    expect(at).toEqual([T0, T0 + 60_000, T0 + 120_000]);
  });
});
