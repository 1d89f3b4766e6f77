/**
 * kill -9 of the coordinator (#15 and #16 tests): the coordinator that runs a renewal or a repair job is a
 * process of its own (testing/job-child.ts, the product's handler code) on a PostgreSQL database shared
 * with this test, killed by PID at recorded points found by watching the relays' folders (as the relay
 * crash campaign does), never by sleeping. Then, as another replica would after the lease ran out, the job
 * is run again here and must complete; afterwards the manifest serves one epoch that every relay holds
 * whole (the check finds the file healthy by recorded roots), every pair of relays rebuilds the file
 * byte-identical through the manifest and through `kofn-recover` of relay folders, and no epoch is mixed.
 * The repair is killed after some ranges were stored, so the job resumes from the progress it noted.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import postgres from 'postgres';
import { randomHex, shareChunkLength } from '@kofn/shared';
import { contributionStorageId, epochStorageId } from '@kofn/shared/recover';
import { openDatabase, type Database } from './db/index.js';
import { files, jobs } from './db/schema.js';
import { createUser } from './auth.js';
import { ensureSigningKey } from './signing-keys.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import type { Ctx } from './file-access.js';
import { manifest } from './files.js';
import { checkFile } from './health.js';
import { runOne } from './jobs.js';
import { enqueueRepair, repairJobHandlers } from './repair.js';
import { enqueueRenewal, renewalHandlers } from './renewal.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect, retrieveWith } from './testing/protect.js';
import { recover } from './testing/recover.js';

const migrationsFolder = resolve(import.meta.dirname, '../../../drizzle');
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
    relays = await startRelays(database.db, 3);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const user = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'password 123', role: 'user' }, 10);
    alice = { db: database.db, user, license, key, config };
  }, 120_000);

  afterAll(async () => {
    await Promise.all((relays ?? []).map((r) => r.stop()));
    await database?.close();
    await admin?.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin?.end({ timeout: 5 });
  });

  /** Starts the doomed coordinator on the one due job; answers a kill -9 by PID and its exit. */
  function coordinator() {
    // node itself with tsx's loader, not the tsx launcher: the launcher runs the script in a child process
    // of its own, which a kill of the launcher's PID leaves running.
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dbUrl, String(STEP)], { stdio: ['ignore', 'pipe', 'pipe'], cwd: resolve(import.meta.dirname, '../../..') });
    let out = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((ok) => proc.once('exit', (code) => ok(code)));
    return {
      output: () => out,
      claimed: () => out.includes('"claimed"'),
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
  async function takeOver(fileId: string): Promise<void> {
    for (let i = 0; i < 300; i++) {
      doomedSessions = Number((await admin.unsafe(`select count(*)::int as n from pg_stat_activity where application_name = 'doomed-coordinator'`))[0]!.n);
      if (doomedSessions === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(doomedSessions).toBe(0);
    const [job] = await database.db.select().from(jobs).where(eq(jobs.status, 'running'));
    expect(job?.lockedBy).toBe('doomed-coordinator');
    expect(job?.key.startsWith(fileId)).toBe(true);
    await database.db
      .update(jobs)
      .set({ lockedUntil: new Date(Date.now() - 1000) })
      .where(eq(jobs.id, job!.id));
    const handlers = { ...repairJobHandlers(database.db, alice.key, timeouts), ...renewalHandlers({ db: database.db, key: alice.key, timeouts }) };
    expect(await runOne(database.db, 'survivor', handlers)).toBe(true);
    const [after] = await database.db.select().from(jobs).where(eq(jobs.id, job!.id));
    expect([after?.status, after?.lastError]).toEqual(['done', null]);
  }

  async function invariants(name: string, fileId: string): Promise<number> {
    const [f] = await database.db.select().from(files).where(eq(files.id, fileId));
    expect((await checkFile(database.db, alice.key, fileId, timeouts))?.state, `epoch ${f!.epoch} whole on every relay`).toBe('healthy');
    const m = await manifest(alice, fileId);
    for (const pair of [
      [0, 1],
      [0, 2],
      [1, 2]
    ]) {
      const set = m.placements.filter((p) => pair.some((j) => relays[j]!.id === p.relayId));
      expect(Buffer.from(await retrieveWith({ ...m, placements: set })).equals(data.get(name)!), `manifest, relays ${pair.join('+')}`).toBe(true);
      expect(
        recover(pair.map((j) => relays[j]!.dataDir))
          .get(name)
          ?.equals(data.get(name)!),
        `kofn-recover, relays ${pair.join('+')}`
      ).toBe(true);
    }
    return f!.epoch;
  }

  const put = async (name: string) => {
    const bytes = randomBytes(SIZE);
    data.set(name, bytes);
    return protect(alice, name, bytes, 2);
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
});
