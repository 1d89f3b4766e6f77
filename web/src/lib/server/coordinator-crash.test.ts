/**
 * kill -9 of the coordinator (#15 and #16 tests): the coordinator that runs a renewal or a repair job is a
 * process of its own (testing/job-child.ts, the product's handler code) on a PostgreSQL database shared
 * with this test, killed by PID at recorded points found by watching the relays' folders (as the relay
 * crash campaign does), never by sleeping. Then, as another replica would after the lease ran out, the job
 * is run again here and must complete; afterwards the manifest serves one epoch that every relay holds
 * whole (the check finds the file healthy by recorded roots), every pair of relays rebuilds the file
 * byte-identical through the manifest and through `kofn-recover` of relay folders, and no epoch is mixed.
 * The repair is killed after some ranges were stored, so the job resumes from the progress it noted.
 * A seeded loop then kills the coordinator at random points of renewals, replacements at a fresh x, drain
 * moves and repairs of a lost share (the seed is printed; KOFN_CRASH_SEED replays a schedule,
 * KOFN_CRASH_LOOP_TRIALS sizes it).
 * A second seeded test kills it per renewal phase, counted (#15: deal, prepare, check, switch, drop): each
 * trial draws a phase (in shuffled blocks of five) and a point within it, found by watching the relays'
 * folders (contributions, staged chunks, check pads, the old epoch) and the database (the job's resume note,
 * files.epoch, the doomed coordinator's lock waits); points too brief to watch are held by this test: a relay
 * paused with SIGSTOP (check, drop) or a lock it takes (switch). KOFN_CRASH_PHASE_TRIALS sizes it (5 by
 * default; `npm run crash-campaign -w @kofn/web` runs 110); it prints the kills per phase and the misses.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq, inArray, like, ne } from 'drizzle-orm';
import postgres from 'postgres';
import { randomBelow, randomHex, shareChunkLength } from '@kofn/shared';
import { seededSource } from '@kofn/shared/testing';
import { contributionStorageId, epochStorageId, padsStorageId } from '@kofn/shared/recover';
import { openDatabase, type Database } from './db/index.js';
import { files, jobs, placements, relays as relayRows } from './db/schema.js';
import { createUser } from './auth.js';
import { ensureSigningKey } from './signing-keys.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import type { Ctx } from './file-access.js';
import { manifest } from './files.js';
import { checkFile } from './health.js';
import { enqueue, runOne, type JobHandler } from './jobs.js';
import { enqueueRepair, repairJobHandlers } from './repair.js';
import { DROP_JOB, RENEW_JOB, enqueueRenewal, holders, renewalHandlers } from './renewal.js';
import { REPLACE_JOB, enqueueReplacement, replaceHandlers } from './renewal-replace.js';
import { MOVE_JOB, RELEASE_JOB, lifecycleHandlers } from './relay-lifecycle.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect, retrieveWith } from './testing/protect.js';
import { recover } from './testing/recover.js';

const migrationsFolder = resolve(import.meta.dirname, '../../../drizzle');
/** The repair job's kind (repair.ts enqueueRepair). */
const REPAIR_JOB = 'repair-share';
const child = resolve(import.meta.dirname, 'testing/job-child.ts');
/** 6 MiB + 3 in 1 MiB chunks: 8 share chunks a relay; ranges of one chunk, so a kill lands between them. */
const SIZE = 6 * 1024 * 1024 + 3;
const STEP = shareChunkLength(1024 * 1024);
const url = process.env.DATABASE_URL;

function count(relay: TestRelay, storageId: string): number {
  try {
    return readdirSync(join(relay.dataDir, 'chunks', storageId.slice(0, 2), storageId)).length;
  } catch {
    return 0;
  }
}

async function until(what: string, seen: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!seen()) {
    if (Date.now() > end) throw new Error(`never saw: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe.skipIf(!url)('kill -9 of the coordinator during a renewal and a repair (PostgreSQL, real relay processes, (2,3))', () => {
  let database: Database;
  let relays: TestRelay[];
  let alice: Ctx;
  let dbUrl: string;
  let admin: ReturnType<typeof postgres>;
  let dbName: string;
  let doomedSessions = -1;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, relays: 10 } };
  const timeouts = { headersMs: 10_000, putHeadersMs: 10_000, idleMs: 10_000, totalMs: 60_000 };
  const data = new Map<string, Buffer>();

  beforeAll(async () => {
    dbName = `kofn_test_${randomHex(6)}`;
    admin = postgres(url!, { max: 1, onnotice: () => undefined });
    await admin.unsafe(`create database ${dbName}`);
    const target = new URL(url!);
    target.pathname = `/${dbName}`;
    dbUrl = target.toString();
    database = await openDatabase({ url: dbUrl, migrationsFolder });
    const key = await ensureSigningKey(database.db);
    // Three hold each file; the fourth is the spare a replacement or a drain move goes to.
    relays = await startRelays(database.db, 4);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const user = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'password 123', role: 'user' }, 10);
    alice = { db: database.db, user, license, key, config };
  }, 120_000);

  afterAll(async () => {
    // A relay held (SIGSTOP) by a failed phase trial would never see its stop.
    resumeRelays();
    await gates?.end({ timeout: 5 });
    await Promise.all((relays ?? []).map((r) => r.stop()));
    await database?.close();
    await admin?.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin?.end({ timeout: 5 });
  });

  /** Starts the doomed coordinator on the one due job; answers a kill -9 by PID and its exit. */
  function coordinator(url = dbUrl) {
    // node itself with tsx's loader, not the tsx launcher: the launcher runs the script in a child process
    // of its own, which a kill of the launcher's PID leaves running.
    const proc = spawn(process.execPath, ['--import', 'tsx', child, url, String(STEP)], { stdio: ['ignore', 'pipe', 'pipe'], cwd: resolve(import.meta.dirname, '../../..') });
    let out = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
    let exitedAt: number | undefined;
    const exited = new Promise<number | null>((ok) =>
      proc.once('exit', (code) => {
        exitedAt = Date.now();
        ok(code);
      })
    );
    return {
      output: () => out,
      /** When the process ended (Date.now()), if it has. */
      exitedAt: () => exitedAt,
      claimed: () => out.includes('"claimed"'),
      exited: () => proc.exitCode !== null || proc.signalCode !== null,
      kill: async () => {
        process.kill(proc.pid!, 'SIGKILL');
        await exited;
      }
    };
  }

  /**
   * The job's lease runs out (another replica's runner may now claim it), and the runner here runs it. First
   * the dead coordinator's database sessions must be gone: a statement it sent just before the kill (a lease
   * extension) still runs on the server and would land after this test's change of the lease.
   */
  async function takeOver(fileId: string, onDeal?: (range: readonly [number, number]) => void): Promise<void> {
    for (let i = 0; i < 300; i++) {
      doomedSessions = Number((await admin.unsafe(`select count(*)::int as n from pg_stat_activity where application_name = 'doomed-coordinator'`))[0]!.n);
      if (doomedSessions === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(doomedSessions).toBe(0);
    // The product's takeover waits for the lease to run out (10 min for a renewal): by then a relay step the dead
    // coordinator had started has long ended (relays stop a deal or prepare whose coordinator went away, at the
    // next chunk). Here the lease is cut short, so a step still under way is given 2 s to end first.
    await new Promise((r) => setTimeout(r, 2000));
    const [job] = await database.db.select().from(jobs).where(eq(jobs.status, 'running'));
    expect(job?.lockedBy).toBe('doomed-coordinator');
    expect(job?.key.startsWith(fileId)).toBe(true);
    await database.db
      .update(jobs)
      .set({ lockedUntil: new Date(Date.now() - 1000) })
      .where(eq(jobs.id, job!.id));
    const handlers = survivorHandlers(onDeal);
    expect(await runOne(database.db, 'survivor', handlers)).toBe(true);
    const [after] = await database.db.select().from(jobs).where(eq(jobs.id, job!.id));
    expect([after?.status, after?.lastError]).toEqual(['done', null]);
  }

  function survivorHandlers(onDeal?: (range: readonly [number, number]) => void): Record<string, JobHandler> {
    const deps = { db: database.db, key: alice.key, timeouts, stepBytes: STEP, ...(onDeal ? { onDeal } : {}) };
    return { ...repairJobHandlers(database.db, alice.key, timeouts), ...renewalHandlers(deps), ...replaceHandlers(deps), ...lifecycleHandlers({ ...deps, offlineAfterMs: 3_600_000 }) };
  }

  async function invariants(name: string, fileId: string): Promise<number> {
    const [f] = await database.db.select().from(files).where(eq(files.id, fileId));
    expect((await checkFile(database.db, alice.key, fileId, timeouts))?.state, `epoch ${f!.epoch} whole on every relay`).toBe('healthy');
    const m = await manifest(alice, fileId);
    // Every pair of the relays the manifest names (a replacement or a move changes which).
    for (const set of m.placements.flatMap((a, i) => m.placements.slice(i + 1).map((b) => [a, b]))) {
      const names = set.map((p) => p.name).join('+');
      expect(Buffer.from(await retrieveWith({ ...m, placements: set })).equals(data.get(name)!), `manifest, relays ${names}`).toBe(true);
      expect(
        recover(set.map((p) => relays.find((r) => r.id === p.relayId)!.dataDir))
          .get(name)
          ?.equals(data.get(name)!),
        `kofn-recover, relays ${names}`
      ).toBe(true);
    }
    return f!.epoch;
  }

  const put = async (name: string, size = SIZE) => {
    const bytes = randomBytes(size);
    data.set(name, bytes);
    return protect(
      alice,
      name,
      bytes,
      2,
      relays.slice(0, 3).map((r) => r.id)
    );
  };

  it('killed mid-deal and mid-prepare of a renewal: the job taken over renews; one epoch, whole, never mixed', async () => {
    for (const [name, point] of [
      ['renew-deal.bin', 'deal'],
      ['renew-prepare.bin', 'prepare']
    ] as const) {
      const fileId = await put(name);
      const xs = (await manifest(alice, fileId)).placements.map((p) => p.x);
      await enqueueRenewal(database.db, fileId);
      const c = coordinator();
      // Mid-deal: a dealer's contribution has reached a relay; mid-prepare: a relay staged 2 chunks of epoch 1.
      const contributions = () => relays.reduce((n, r) => n + xs.reduce((m, x) => m + count(r, contributionStorageId(fileId, 1, x)), 0), 0);
      await until(`${name}: ${point} under way`, () => (point === 'deal' ? contributions() >= 2 : relays.some((r) => count(r, epochStorageId(fileId, 1)) >= 2)));
      await c.kill();
      expect(c.claimed(), c.output()).toBe(true);
      await takeOver(fileId);
      expect(await invariants(name, fileId)).toBe(1);
    }
  }, 240_000);

  it('killed after some deal ranges of a renewal: the job taken over resumes from the last completed range, not from the start', async () => {
    await database.db.delete(jobs);
    const name = 'renew-resume.bin';
    const fileId = await put(name);
    const [f] = await database.db.select().from(files).where(eq(files.id, fileId));
    await enqueueRenewal(database.db, fileId);
    const c = coordinator();
    // The recorded point: the doomed coordinator noted three deal ranges done (one chunk each here).
    const dealtNoted = async (): Promise<number> => {
      const [j] = await database.db.select().from(jobs).where(eq(jobs.kind, RENEW_JOB));
      return (j?.payload as { resume?: { next?: number } } | undefined)?.resume?.next ?? 0;
    };
    const end = Date.now() + 180_000;
    while ((await dealtNoted()) < 3) {
      if (Date.now() > end) throw new Error(`never saw three deal ranges noted: ${c.output()}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    await c.kill();
    expect(c.claimed(), c.output()).toBe(true);
    const dealt = await dealtNoted();
    expect(dealt).toBeGreaterThanOrEqual(3);
    const dealtRanges: Array<readonly [number, number]> = [];
    await takeOver(fileId, (range) => dealtRanges.push(range));
    // Resumed: the survivor dealt only the ranges after the noted ones (the cut one again, after dropping its
    // contributions), never range 0; one chunk per range here, so range r is chunk r.
    expect(dealtRanges.map(([from]) => from)).toEqual(Array.from({ length: f!.chunkCount + 1 - dealt }, (_, i) => dealt + i));
    expect(await invariants(name, fileId)).toBe(1);
  }, 240_000);

  it('killed after some ranges of a repair were stored: the job taken over resumes from its progress and verifies', async () => {
    const fileId = await put('repair.bin');
    rmSync(join(relays[0]!.dataDir, 'chunks', fileId.slice(0, 2), fileId), { recursive: true, force: true });
    expect((await checkFile(database.db, alice.key, fileId, timeouts))?.state).toBe('at_risk');
    await enqueueRepair(database.db, fileId, relays[0]!.id);
    const c = coordinator();
    await until('three ranges stored on the receiver', () => count(relays[0]!, fileId) >= 3);
    await c.kill();
    expect(c.claimed(), c.output()).toBe(true);
    const [job] = await database.db.select().from(jobs).where(eq(jobs.kind, 'repair-share'));
    // The doomed coordinator noted its progress before it died.
    const next = (job!.payload as { resume?: { next?: number } }).resume?.next ?? 0;
    expect(next).toBeGreaterThanOrEqual(1);
    const dir = join(relays[0]!.dataDir, 'chunks', fileId.slice(0, 2), fileId);
    const stored = readdirSync(dir).filter((n) => Number(n.split('.')[0]) < next);
    const inodes = new Map(stored.map((n) => [n, statSync(join(dir, n)).ino]));
    await takeOver(fileId);
    // Resumed, not started over: the chunks stored before the kill are the very same files.
    for (const [n, ino] of inodes) expect(statSync(join(dir, n)).ino, n).toBe(ino);
    expect(await invariants('repair.bin', fileId)).toBe(0);
  }, 240_000);

  it('a seeded loop of kills at random points of renewals, replacements at a fresh x, drain moves and repairs: after each restart the file reads at exactly one epoch, and the job taken over completes', async () => {
    const seed = Number(process.env.KOFN_CRASH_SEED ?? randomBelow(2 ** 31));
    const trials = Number(process.env.KOFN_CRASH_LOOP_TRIALS ?? 3);
    console.log(`coordinator crash loop: seed ${seed}, ${trials} trials (KOFN_CRASH_SEED=${seed} replays this schedule)`);
    const source = seededSource(seed);
    const draw = (n: number): number => {
      const b = new Uint8Array(4);
      source.fill(b);
      return new DataView(b.buffer).getUint32(0) % n;
    };
    // Only this loop's jobs: a job left by an earlier test must not be what the doomed coordinator claims.
    await database.db.delete(jobs);
    const name = 'loop.bin';
    const fileId = await put(name, 3 * 1024 * 1024 + 5);
    /** How long each kind of job last took from claim to exit, when one ran to its end. */
    const took: Partial<Record<'renew' | 'replace' | 'drain' | 'repair', number>> = {};
    for (let t = 0; t < trials; t++) {
      const held = await database.db.select().from(placements).where(eq(placements.fileId, fileId));
      const spare = relays.find((r) => !held.some((p) => p.relayId === r.id))!;
      const leaving = held.sort((a, b) => a.x - b.x)[draw(held.length)]!.relayId;
      const op = (['renew', 'replace', 'drain', 'repair'] as const)[draw(4)]!;
      // The kill lands this long after the doomed coordinator claimed the job: from at once to a little past
      // the time the same kind of job took when one last ran to its end here (1.2 s before any did), so most
      // trials die mid-step and some after the switch or the end, on a quiet machine (such a job ended
      // 150-500 ms after its claim; a fixed 0-4 s had 26 of 30 kills land after the end) as under CI's load.
      const delayMs = draw(Math.max(20, Math.round((took[op] ?? 1200) * 1.15)));
      const [before] = await database.db.select().from(files).where(eq(files.id, fileId));
      if (op === 'renew') await enqueueRenewal(database.db, fileId);
      if (op === 'replace') {
        // The earlier tests' files may sit on the leaving relay too, and are queued with this one; only this
        // loop's file is the doomed coordinator's to claim (the others' jobs go: this test is about one file).
        const queued = await enqueueReplacement(database.db, leaving, spare.id);
        expect(queued.queued).toBeGreaterThanOrEqual(1);
        await database.db.delete(jobs).where(and(eq(jobs.kind, REPLACE_JOB), ne(jobs.key, `${fileId}:${leaving}`)));
        expect(await database.db.select().from(jobs).where(eq(jobs.kind, REPLACE_JOB))).toHaveLength(1);
      }
      if (op === 'drain') {
        await database.db.update(relayRows).set({ lifecycle: 'draining', lifecycleAt: new Date() }).where(eq(relayRows.id, leaving));
        await enqueue(database.db, MOVE_JOB, `${fileId}:${leaving}`, { fileId, relayId: leaving });
      }
      if (op === 'repair') {
        // The leaving relay loses its share of the served epoch (a disk loss); the check finds it missing
        // and the repair job rebuilds it there from the other two (shared/docs/repair.md).
        const sid = epochStorageId(fileId, before!.epoch);
        rmSync(join(relays.find((r) => r.id === leaving)!.dataDir, 'chunks', sid.slice(0, 2), sid), { recursive: true, force: true });
        expect((await checkFile(database.db, alice.key, fileId, timeouts))?.state).toBe('at_risk');
        await enqueueRepair(database.db, fileId, leaving);
      }
      const leavingName = relays.find((r) => r.id === leaving)!.name;
      const what = op === 'renew' ? '' : op === 'repair' ? `${leavingName}'s share ` : `${leavingName} -> ${spare.name} `;
      const label = `trial ${t} (seed ${seed}): ${op} ${what}killed ${delayMs} ms after the claim`;
      const c = coordinator();
      await until(`${label}: claimed`, () => c.claimed() || c.exited());
      const claimedAt = Date.now();
      await new Promise((r) => setTimeout(r, delayMs));
      const finishedFirst = c.exited();
      const ended = c.exitedAt();
      if (finishedFirst && ended !== undefined) took[op] = Math.max(1, ended - claimedAt);
      await c.kill().catch(() => undefined);
      expect(c.claimed(), c.output()).toBe(true);
      // Right after the crash, before any other coordinator runs: the manifest serves one epoch, read whole
      // (during a repair, from the two relays that kept their shares: the third may hold part of its rebuild).
      const m = await manifest(alice, fileId);
      expect([before!.epoch, before!.epoch + 1], label).toContain(m.epoch);
      const readable = op === 'repair' ? { ...m, placements: m.placements.filter((p) => p.relayId !== leaving) } : m;
      expect(Buffer.from(await retrieveWith(readable)).equals(data.get(name)!), `${label}: readable after the crash`).toBe(true);
      const [kind, key] =
        op === 'renew'
          ? [RENEW_JOB, `${fileId}:${before!.epoch}`]
          : op === 'replace'
            ? [REPLACE_JOB, `${fileId}:${leaving}`]
            : op === 'drain'
              ? [MOVE_JOB, `${fileId}:${leaving}`]
              : [REPAIR_JOB, `${fileId}:${leaving}`];
      const [job] = await database.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.kind, kind), eq(jobs.key, key)));
      console.log(`${label}: ${job?.status === 'running' ? `killed mid-job at epoch ${m.epoch}, taken over` : 'the job had finished'}`);
      if (job?.status === 'running') await takeOver(fileId);
      else expect([job?.status, finishedFirst || job?.status === 'done'], `${label}: ${c.output()}`).toEqual(['done', true]);
      await invariants(name, fileId);
      const after = await database.db.select().from(placements).where(eq(placements.fileId, fileId));
      if (op === 'replace' || op === 'drain')
        expect(
          after.some((p) => p.relayId === leaving),
          `${label}: share moved off`
        ).toBe(false);
      // Between trials, as the grace period and the administrator would: the left relay's copy is released
      // and the drained relay is back in service, so any relay may be the spare of the next trial.
      const release: JobHandler = survivorHandlers()[RELEASE_JOB]!;
      const releases = await database.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.kind, RELEASE_JOB), eq(jobs.status, 'pending')));
      for (const r of releases) {
        await release(r.payload as Record<string, unknown>, r);
        await database.db.delete(jobs).where(eq(jobs.id, r.id));
      }
      if (op === 'drain') await database.db.update(relayRows).set({ lifecycle: 'active', lifecycleAt: new Date() }).where(eq(relayRows.id, leaving));
      await database.db.delete(jobs).where(inArray(jobs.kind, [RENEW_JOB, REPLACE_JOB, MOVE_JOB, REPAIR_JOB]));
    }
  }, 600_000);
  // ---- Kills per renewal phase, counted (#15: "at every phase ..., 20+ random crash points per phase") ----

  const PHASES = ['deal', 'prepare', 'check', 'switch', 'drop'] as const;
  type Phase = (typeof PHASES)[number];
  /** This test's own sessions on the suite's database, for the locks it holds in the switch. */
  let gates: ReturnType<typeof postgres> | undefined;
  /** Relay processes held with SIGSTOP (never killed, and let go right after the coordinator's kill). */
  const heldRelays = new Set<number>();
  const relayPids = new Map<string, number>();

  /** The PID of a relay process this test process started, found in /proc by its data folder (testing/relays.ts keeps it to itself). */
  function relayPid(r: TestRelay): number {
    const known = relayPids.get(r.id);
    if (known !== undefined) return known;
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
        // "pid (comm) state ppid ...": the parent must be this process.
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue;
        if (!readFileSync(`/proc/${d}/environ`, 'latin1').split('\0').includes(`KOFN_RELAY_DATA=${r.dataDir}`)) continue;
        relayPids.set(r.id, Number(d));
        return Number(d);
      } catch {
        // A process that ended meanwhile.
      }
    }
    throw new Error(`no process of ${r.name} found`);
  }

  function holdRelay(r: TestRelay): void {
    const pid = relayPid(r);
    process.kill(pid, 'SIGSTOP');
    heldRelays.add(pid);
  }

  function resumeRelays(): void {
    for (const pid of heldRelays) process.kill(pid, 'SIGCONT');
    heldRelays.clear();
  }

  /** Runs `statement` in a transaction of this test's own and keeps it open (its locks held) until the answer is called. */
  async function gate(statement: string, params: string[] = []): Promise<() => Promise<void>> {
    const c = await gates!.reserve();
    await c.unsafe('begin');
    await c.unsafe(statement, params);
    return async () => {
      await c.unsafe('rollback');
      c.release();
    };
  }

  /** The doomed coordinator's sessions on this suite's database; `waiting`: those waiting for a lock. */
  async function doomedOnDb(waiting = false): Promise<number> {
    const rows = await admin.unsafe(`select count(*)::int as n from pg_stat_activity where application_name = 'doomed-coordinator' and datname = $1${waiting ? ` and wait_event_type = 'Lock'` : ''}`, [
      dbName
    ]);
    return Number(rows[0]!.n);
  }

  /** Whether the doomed coordinator waits for a lock on one of `tables` (this suite's database). */
  async function doomedWaitingOn(tables: string[]): Promise<boolean> {
    const rows = await gates!.unsafe(
      `select count(*)::int as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where a.application_name = 'doomed-coordinator' and a.datname = current_database() and not l.granted and l.relation::regclass::text = any($1::text[])`,
      [tables]
    );
    return Number(rows[0]!.n) > 0;
  }

  /** Polls `seen` (every millisecond or so) until it holds: true; false when the coordinator exited first. */
  async function reach(what: string, c: ReturnType<typeof coordinator>, seen: () => boolean | Promise<boolean>, ms = 120_000): Promise<boolean> {
    const end = Date.now() + ms;
    for (;;) {
      // Reached only once the doomed coordinator says it claimed the job: a point seen before that (a CI run's
      // first trial killed a coordinator that had printed nothing at all) is not this job's.
      if (c.claimed() && (await seen())) return true;
      if (c.exited()) return false;
      if (Date.now() > end) throw new Error(`never saw: ${what}: ${c.output()}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  it.skipIf(process.platform !== 'linux')(
    'kills per renewal phase (deal, prepare, check, switch, drop) at a random point of each, counted: after each restart the file reads at exactly one epoch, the job taken over completes, the old epoch is dropped and no job is left',
    async () => {
      const seed = Number(process.env.KOFN_CRASH_SEED ?? randomBelow(2 ** 31));
      const trials = Number(process.env.KOFN_CRASH_PHASE_TRIALS ?? 5);
      console.log(`coordinator kills per renewal phase: seed ${seed}, ${trials} trials (KOFN_CRASH_SEED=${seed} replays this schedule)`);
      const source = seededSource(seed);
      const draw = (n: number): number => {
        const b = new Uint8Array(4);
        source.fill(b);
        return new DataView(b.buffer).getUint32(0) % n;
      };
      const shuffled = <T>(list: readonly T[]): T[] => {
        const out = [...list];
        for (let i = out.length - 1; i > 0; i--) {
          const j = draw(i + 1);
          [out[i], out[j]] = [out[j]!, out[i]!];
        }
        return out;
      };
      gates = postgres(dbUrl, { max: 4, onnotice: () => undefined });
      // The doomed coordinator's sessions look every 10 ms whether it is still there: one killed while its
      // statement waits on a lock this test holds ends then, and its statement with it (as when a kill lands
      // before a statement was sent), instead of running it once the lock goes.
      const doomedUrl = new URL(dbUrl);
      doomedUrl.searchParams.set('client_connection_check_interval', '10');
      // Only this test's jobs: a job left by an earlier test must not be what the doomed coordinator claims.
      await database.db.delete(jobs);
      const name = 'phase.bin';
      const fileId = await put(name, 3 * 1024 * 1024 + 5);
      const [file] = await database.db.select().from(files).where(eq(files.id, fileId));
      const chunks = file!.chunkCount + 1;
      const hs = await holders(database.db, fileId);
      const holding = hs.map((h) => relays.find((r) => r.id === h.relay.id)!);
      const xs = hs.map((h) => h.x);
      const kills: Record<Phase, number> = { deal: 0, prepare: 0, check: 0, switch: 0, drop: 0 };
      const missed: string[] = [];
      const leftBehind: string[] = [];
      let block: Phase[] = [];
      const started = Date.now();
      try {
        for (let t = 0; t < trials; t++) {
          // Phases in shuffled blocks of five: each gets trials / 5 kills; the point within it is random.
          if (block.length === 0) block = shuffled(PHASES);
          const phase = block.shift()!;
          const [before] = await database.db.select().from(files).where(eq(files.id, fileId));
          const from = before!.epoch;
          const next = from + 1;
          const contributions = () => holding.reduce((n, r) => n + xs.reduce((m, x) => m + count(r, contributionStorageId(fileId, next, x)), 0), 0);
          const staged = () => holding.reduce((n, r) => n + count(r, epochStorageId(fileId, next)), 0);
          const holdsPads = (r: TestRelay) => xs.some((x) => count(r, padsStorageId(fileId, next, x)) > 0);
          const holdsOld = (r: TestRelay) => count(r, epochStorageId(fileId, from)) > 0;
          const jobOf = async (kind: string) =>
            (
              await database.db
                .select()
                .from(jobs)
                .where(and(eq(jobs.kind, kind), eq(jobs.key, `${fileId}:${from}`)))
            )[0];
          const epochNow = async () => (await database.db.select({ epoch: files.epoch }).from(files).where(eq(files.id, fileId)))[0]!.epoch;
          const noted = (j: { payload: unknown } | undefined) => (j?.payload as { resume?: unknown } | undefined)?.resume !== undefined;
          let point: string;
          /** Whether the kill landed at the drawn point (false: the job had passed it, a miss). */
          let hit: boolean;
          /** The epoch the manifest serves right after a kill at the point. */
          let expected = from;
          const gatesHeld: Array<() => Promise<void>> = [];
          let c: ReturnType<typeof coordinator>;
          const kill = async () => {
            if (!c.exited()) await c.kill();
          };
          const label = () => `trial ${t} (seed ${seed}): ${phase}, ${point}`;
          if (phase === 'drop') {
            // The renewal runs here to its end, its old epoch's drop due at once (no grace); the doomed
            // coordinator claims the drop, the drop job of its own (renewal.ts DROP_JOB).
            await enqueueRenewal(database.db, fileId);
            const graceless = { ...survivorHandlers(), ...renewalHandlers({ db: database.db, key: alice.key, timeouts, stepBytes: STEP, graceMs: 0 }) };
            expect(await runOne(database.db, 'survivor', graceless)).toBe(true);
            expect([(await jobOf(RENEW_JOB))?.status, (await jobOf(DROP_JOB))?.status]).toEqual(['done', 'pending']);
            // The point: the old epoch dropped on 0, 1 or 2 of the 3 relays; the others are held (SIGSTOP), so
            // their drop request waits unanswered when the coordinator dies.
            const dropped = draw(3);
            const held = shuffled(holding).slice(0, 3 - dropped);
            point = `epoch ${from} dropped on ${dropped} of 3 relays${dropped < 3 ? ` (${held.map((r) => r.name).join(', ')} held)` : ''}`;
            for (const r of held) holdRelay(r);
            c = coordinator(doomedUrl.toString());
            const free = holding.filter((r) => !held.includes(r));
            const reached = await reach(label(), c, async () => (dropped === 0 ? (await jobOf(DROP_JOB))?.lockedBy === 'doomed-coordinator' : free.every((r) => !holdsOld(r))));
            await kill();
            hit = reached && (await jobOf(DROP_JOB))?.status === 'running' && holding.some(holdsOld);
            expected = next;
          } else {
            await enqueueRenewal(database.db, fileId);
            if (phase === 'deal') {
              // The point: the a-th of every dealer's contribution to every relay's chunks stored.
              const total = file!.k * holding.length * chunks;
              const at = 1 + draw(total);
              point = `${at} of ${total} contributions stored`;
              c = coordinator(doomedUrl.toString());
              const reached = await reach(label(), c, () => contributions() >= at);
              await kill();
              hit = reached && staged() === 0;
            } else if (phase === 'prepare') {
              // The point: the a-th chunk of epoch e + 1 staged (over every relay).
              const total = holding.length * chunks;
              const at = 1 + draw(total);
              point = `${at} of ${total} chunks of epoch ${next} staged`;
              c = coordinator(doomedUrl.toString());
              const reached = await reach(label(), c, () => staged() >= at);
              await kill();
              // Still before the check: the job's resume note is there (renewal-resume.ts clearProgress).
              hit = reached && noted(await jobOf(RENEW_JOB)) && (await epochNow()) === from;
            } else if (phase === 'check') {
              // The check began when every relay staged every chunk and the job's resume note is gone (the
              // check consumes the pads: renewal.ts clearProgress). The point: 0, 1 or 2 relays answered the
              // check's last range (their check pads are consumed); the others are held once the check began.
              const answered = draw(3);
              point = answered === 0 ? 'the check begun, before any relay answered its last range' : `${answered} of 3 relays answered the check's last range`;
              c = coordinator(doomedUrl.toString());
              let reached = await reach(label(), c, async () => staged() === holding.length * chunks && (await jobOf(RENEW_JOB))?.status === 'running' && !noted(await jobOf(RENEW_JOB)));
              if (reached && answered > 0) {
                const held = shuffled(holding).slice(0, 3 - answered);
                point += ` (${held.map((r) => r.name).join(', ')} held)`;
                for (const r of held) holdRelay(r);
                const free = holding.filter((r) => !held.includes(r));
                reached = await reach(label(), c, () => free.every((r) => !holdsPads(r)));
              }
              await kill();
              // Still in the check: the epoch is not switched and some relay has not answered (holds pads).
              hit = reached && (await epochNow()) === from && holding.some(holdsPads);
            } else {
              // The switch is one transaction (renewal.ts): the job row, then the file row locked, the placements'
              // roots, files.epoch, the old epoch's drop queued; then the history row. The point, held there by
              // a lock this test takes: waiting for the file row ("lock"); waiting to record the roots, the file
              // row locked ("roots"); the switch's rows written, waiting to queue the drop ("queue": inside the
              // transaction, or after its commit in a coordinator that queued the drop after it); the switch
              // committed, its history not yet written ("committed").
              const at = (['lock', 'roots', 'queue', 'committed'] as const)[draw(4)]!;
              point = {
                lock: 'in the switch, waiting for the file row',
                roots: 'in the switch, recording the roots (file row locked)',
                queue: `the switch's rows written, queueing the drop of epoch ${from}`,
                committed: `epoch ${next} committed, its history not yet written`
              }[at];
              gatesHeld.push(await gate(at === 'roots' ? 'select file_id from placements where file_id = $1 for update' : 'select id from files where id = $1 for update', [fileId]));
              c = coordinator(doomedUrl.toString());
              let reached = await reach(label(), c, async () => (await doomedOnDb(true)) > 0);
              if (reached && (at === 'queue' || at === 'committed')) {
                // Writes to the job queue and to the history wait from here; the file row goes.
                const jobsGate = await gate('lock table jobs in share mode');
                gatesHeld.push(await gate('lock table history in share mode'));
                await gatesHeld.shift()!();
                reached = await reach(label(), c, () => doomedWaitingOn(['jobs', 'history']));
                if (reached && at === 'committed') {
                  await jobsGate();
                  reached = await reach(label(), c, async () => (await epochNow()) === next && (await doomedWaitingOn(['history'])));
                } else gatesHeld.push(jobsGate);
              }
              await kill();
              // Rolled back unless committed ("queue": committed only in a coordinator that queued after it).
              expected = at === 'committed' ? next : at === 'queue' ? await epochNow() : from;
              hit = reached && (await epochNow()) === expected;
            }
          }
          // The held relays go on at once; the locks go once the dead coordinator's sessions are gone (each
          // looks for its client every 10 ms), so no statement of it runs after the kill.
          resumeRelays();
          for (let i = 0; i < 300 && (await doomedOnDb()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
          for (const release of gatesHeld) await release();
          expect(c.claimed(), `${label()}: the doomed coordinator (${c.exited() ? 'exited' : 'running'}) said: ${c.output()}`).toBe(true);
          if (hit) kills[phase] += 1;
          else missed.push(label());
          // Right after the crash, before any other coordinator runs: the manifest serves one epoch, read whole.
          const m = await manifest(alice, fileId);
          expect([from, next], label()).toContain(m.epoch);
          if (hit) expect(m.epoch, `${label()}: the epoch served after the kill`).toBe(expected);
          expect(Buffer.from(await retrieveWith(m)).equals(data.get(name)!), `${label()}: readable after the crash`).toBe(true);
          const running = await database.db
            .select()
            .from(jobs)
            .where(and(like(jobs.key, `${fileId}:%`), eq(jobs.status, 'running')));
          const dropQueued = (await jobOf(DROP_JOB)) !== undefined;
          console.log(
            `${label()}: ${hit ? 'killed there' : 'MISSED (the job had passed the point)'}, epoch ${m.epoch} served${running.length ? ', taken over' : ', the job had finished'}${phase === 'switch' ? `; the drop job ${dropQueued ? 'was' : 'was not yet'} queued` : ''}`
          );
          if (running.length) await takeOver(fileId);
          else expect((await jobOf(phase === 'drop' ? DROP_JOB : RENEW_JOB))?.status, `${label()}: ${c.output()}`).toBe('done');
          expect(await invariants(name, fileId), label()).toBe(next);
          // The old epoch's drop, made due now (the product waits the grace period): it completes, and no
          // relay keeps epoch e, a contribution or a check pad of epoch e + 1.
          const drop = await jobOf(DROP_JOB);
          if (drop?.status === 'pending') {
            await database.db
              .update(jobs)
              .set({ runAfter: new Date(Date.now() - 1000) })
              .where(eq(jobs.id, drop.id));
            expect(await runOne(database.db, 'survivor', survivorHandlers())).toBe(true);
          }
          const dropAfter = await jobOf(DROP_JOB);
          if (dropAfter) expect([dropAfter.status, dropAfter.lastError], `${label()}: the drop`).toEqual(['done', null]);
          const kept = relays.filter((r) => holdsOld(r) || holdsPads(r) || xs.some((x) => count(r, contributionStorageId(fileId, next, x)) > 0));
          if (!dropAfter || kept.length) {
            const what = `${label()}: ${dropAfter ? '' : `no drop job for epoch ${from} was ever queued; `}epoch ${from} (or epoch ${next}'s contributions or pads) still on ${kept.map((r) => r.name).join(', ') || 'no relay'}`;
            console.log(`LEFT BEHIND: ${what}`);
            leftBehind.push(what);
          }
          // No job stuck: none of this file's is pending, running or failed.
          const open = await database.db
            .select({ kind: jobs.kind, key: jobs.key, status: jobs.status })
            .from(jobs)
            .where(and(like(jobs.key, `${fileId}:%`), inArray(jobs.status, ['pending', 'running', 'failed'])));
          expect(open, `${label()}: jobs left`).toEqual([]);
          await database.db.delete(jobs);
        }
      } finally {
        resumeRelays();
        console.log(
          `coordinator renewal kills per phase: deal ${kills.deal}, prepare ${kills.prepare}, check ${kills.check}, switch ${kills.switch}, drop ${kills.drop} (missed ${missed.length}); seed ${seed}, ${Math.round((Date.now() - started) / 1000)} s`
        );
        for (const m of missed) console.log(`missed: ${m}`);
      }
      expect(leftBehind, 'old epochs (or contributions, pads) left on relays after the drop').toEqual([]);
    },
    120_000 + Number(process.env.KOFN_CRASH_PHASE_TRIALS ?? 5) * 60_000
  );
});
