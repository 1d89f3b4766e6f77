/**
 * The administrator's "replace storage server R by S at a fresh x" (relay-replace.ts, the logic behind
 * POST /api/relays/[id]/replace) on PGlite and PostgreSQL with real relay processes: every refusal with its
 * stable code and nothing stored by it (no job, no history); the happy path queues one job per file of R that
 * S does not hold, records it in the history, lists it among the jobs, refuses a replay (409), and the job run
 * leaves the file on S at a fresh x, retrievable byte-identical. The HTTP layer (no session, non-administrator,
 * CSRF, the admin page) is exercised end to end in e2e/tests/relay-replace.spec.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { codeOf } from '@kofn/shared/testing';
import { and, eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { files, history, jobs, placements, relays as relayTable } from './db/schema.js';
import { createUser } from './auth.js';
import { ensureSigningKey, type SigningKey } from './signing-keys.js';
import type { Ctx } from './file-access.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import { listJobs, runOne } from './jobs.js';
import { drainRelay, lifecycleHandlers, markLost } from './relay-lifecycle.js';
import { REPLACE_JOB, replaceHandlers } from './renewal-replace.js';
import { replacementViews, startReplacement } from './relay-replace.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect, retrieve } from './testing/protect.js';

const OFFLINE_AFTER_MS = 3_600_000;

describeDatabases('the administrator replaces a storage server at a fresh x on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let alice: Ctx;
  let adminId: string;
  let key: SigningKey;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, relays: 10 } };
  const timeouts = { headersMs: 5_000, putHeadersMs: 5_000, idleMs: 5_000, totalMs: 30_000 };

  beforeAll(async () => {
    database = await open();
    key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 5);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const user = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'password 123', role: 'user' }, 10);
    const admin = await createUser(database.db, { email: 'admin@x.test', displayName: 'Admin', password: 'password 123', role: 'admin' }, 10);
    adminId = admin.id;
    alice = { db: database.db, user, license, key, config };
  }, 90_000);

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await database.drop();
  });

  const start = (from: unknown, body: Record<string, unknown>) => startReplacement(database.db, adminId, from, body, OFFLINE_AFTER_MS);
  const replaceJobs = () => database.db.select().from(jobs).where(eq(jobs.kind, REPLACE_JOB));
  const adminHistory = () => database.db.select().from(history).where(eq(history.operation, 'relay_lifecycle'));
  const placed = (id: string) => database.db.select().from(placements).where(eq(placements.fileId, id));
  const setRelay = (id: string, patch: Partial<typeof relayTable.$inferInsert>) => database.db.update(relayTable).set(patch).where(eq(relayTable.id, id));

  it('refuses malformed bodies, unknown or equal relays, an unusable target and a relay with nothing to move, storing nothing', async () => {
    const [r0, r1, r2, r3, r4] = relays.map((r) => r.id) as [string, string, string, string, string];
    // R holds no share yet.
    expect(await codeOf(start(r0, { to: r3 }))).toBe('CONFLICT');
    await protect(alice, 'on-012.bin', new Uint8Array(randomBytes(4000)), 2, [r0, r1, r2]);

    for (const bad of [{}, { to: 1 }, { to: 'not a relay' }, { to: '' }, { to: r3, extra: true }, { target: r3 }, { to: [r3] }]) {
      expect(await codeOf(start(r0, bad)), JSON.stringify(bad)).toBe('BAD_REQUEST');
    }
    expect(await codeOf(start('not a relay', { to: r3 }))).toBe('NOT_FOUND');
    expect(await codeOf(start(undefined, { to: r3 }))).toBe('NOT_FOUND');
    expect(await codeOf(start(r0, { to: r0 }))).toBe('WRONG_VALUE');
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect(await codeOf(start(r0, { to: unknown }))).toBe('NOT_FOUND');
    expect(await codeOf(start(unknown, { to: r3 }))).toBe('NOT_FOUND');

    // S holds a share of every file of R: a relay holds at most one share of a file.
    expect(await codeOf(start(r0, { to: r1 }))).toBe('CONFLICT');

    // S not in service, not enrolled, offline; R draining, lost or retired (the drain job owns its shares).
    const [row] = await database.db.select().from(relayTable).where(eq(relayTable.id, r4));
    await setRelay(r4, { lifecycle: 'draining' });
    expect(await codeOf(start(r0, { to: r4 }))).toBe('CONFLICT');
    await setRelay(r4, { lifecycle: 'active', publicKey: null });
    expect(await codeOf(start(r0, { to: r4 }))).toBe('CONFLICT');
    await setRelay(r4, { publicKey: row!.publicKey, lastHeartbeat: new Date(Date.now() - OFFLINE_AFTER_MS - 60_000) });
    expect(await codeOf(start(r0, { to: r4 }))).toBe('CONFLICT');
    await setRelay(r4, { lastHeartbeat: new Date() });
    for (const lifecycle of ['draining', 'lost', 'retired'] as const) {
      await setRelay(r0, { lifecycle });
      expect(await codeOf(start(r0, { to: r4 })), lifecycle).toBe('CONFLICT');
    }
    await setRelay(r0, { lifecycle: 'active' });

    // Nothing half-stored: no job, no history entry.
    expect(await replaceJobs()).toEqual([]);
    expect(await adminHistory()).toEqual([]);
  }, 120_000);

  it('queues one job per file S does not hold, records it, lists it, refuses a replay; the job leaves the file on S, byte-identical', async () => {
    const [r0, r1, r2, r3] = relays.map((r) => r.id) as [string, string, string, string];
    const data = new Uint8Array(randomBytes(300_001));
    const moving = await protect(alice, 'moving.bin', data, 2, [r0, r1, r2]);
    const staying = await protect(alice, 'staying.bin', new Uint8Array(randomBytes(5000)), 2, [r0, r2, r3]);
    const xBefore = (await placed(moving)).map((p) => p.x);

    // 'on-012.bin' (previous test) and 'moving.bin' move; 'staying.bin' already has a share on relay 3.
    const view = await start(r0, { to: r3 });
    expect(view).toEqual({ from: r0, to: r3, queued: 2, skipped: 1 });
    const queued = await replaceJobs();
    expect(queued.map((j) => j.status)).toEqual(['pending', 'pending']);
    expect(queued.map((j) => j.key)).toContain(`${moving}:${r0}`);
    expect(queued.map((j) => j.key)).not.toContain(`${staying}:${r0}`);
    expect((await listJobs(database.db, 50)).filter((j) => j.kind === REPLACE_JOB)).toHaveLength(2);
    const [h] = await adminHistory();
    expect(h).toMatchObject({ userId: adminId, result: 'ok', fileName: relays[0]!.name });
    expect(h!.detail).toBe(`replacement of storage server ${relays[0]!.name} by ${relays[3]!.name} queued: 2 file(s) move at the next renewal, 1 stay (already on ${relays[3]!.name})`);

    // The admin page's progress: two files left, relay 0 holds its three shares still.
    expect(await replacementViews(database.db)).toEqual([{ relayId: r0, to: r3, left: 2, done: 0, failing: 0, lastError: null, held: 3 }]);

    // A replayed (or double-clicked) request queues nothing more: 409 while the jobs are under way.
    expect(await codeOf(start(r0, { to: r3 }))).toBe('CONFLICT');
    expect(await codeOf(start(r0, { to: relays[4]!.id }))).toBe('CONFLICT');
    expect(await replaceJobs()).toHaveLength(2);
    expect(await adminHistory()).toHaveLength(1);
    // Nor may the relay be drained or marked lost meanwhile: both would rewrite the placements the
    // replacement is renewing. It stays in service, and nothing is recorded.
    expect(await codeOf(drainRelay(database.db, adminId, r0))).toBe('CONFLICT');
    expect(await codeOf(markLost(database.db, adminId, r0))).toBe('CONFLICT');
    expect((await database.db.select().from(relayTable).where(eq(relayTable.id, r0)))[0]!.lifecycle).toBe('active');
    expect(await adminHistory()).toHaveLength(1);

    // The coordinator's runner does the work (the same handlers context.ts registers).
    const handlers = { ...replaceHandlers({ db: database.db, key, timeouts }), ...lifecycleHandlers({ db: database.db, key, offlineAfterMs: OFFLINE_AFTER_MS, timeouts }) };
    expect(await runOne(database.db, 'w1', handlers)).toBe(true);
    expect(await runOne(database.db, 'w1', handlers)).toBe(true);
    const done = await replaceJobs();
    expect(
      done.map((j) => j.status),
      done.map((j) => j.lastError).join()
    ).toEqual(['done', 'done']);
    const after = await placed(moving);
    expect(after.map((p) => p.relayId).sort()).toEqual([r1, r2, r3].sort());
    expect(xBefore).not.toContain(after.find((p) => p.relayId === r3)!.x);
    const [f] = await database.db.select().from(files).where(eq(files.id, moving));
    expect(f!.epoch).toBe(1);
    expect(Buffer.from(await retrieve(alice, moving)).equals(Buffer.from(data))).toBe(true);
    // Progress: nothing left, relay 0 holds only the share of the file S already had.
    expect(await replacementViews(database.db)).toEqual([{ relayId: r0, to: r3, left: 0, done: 2, failing: 0, lastError: null, held: 1 }]);
    // The file S already held is untouched.
    expect((await placed(staying)).map((p) => p.relayId).sort()).toEqual([r0, r2, r3].sort());

    // Once the jobs are done a new request is taken again; here S already holds every file R still has.
    expect(await codeOf(start(r0, { to: r3 }))).toBe('CONFLICT');
    const again = await database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, REPLACE_JOB), eq(jobs.status, 'pending')));
    expect(again).toEqual([]);
  }, 240_000);
});
