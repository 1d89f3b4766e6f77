/**
 * Long silent steps (#16): a relay cuts a connection after `KOFN_RELAY_IDLE_TIMEOUT_MS` of silence (60 s in
 * production), and a renewal or repair step is one request that stays silent until the relay has walked its
 * chunks. Here the cut is lowered to 5 s and relay-to-relay traffic is really slowed (testing/slow-proxy.ts:
 * each repair term held 2 s, each dealt contribution 0.7 s), so that a step done over the whole file
 * (10 share chunks) outlasts the cut, while the coordinator's steps by ranges of chunks (step-ranges.ts) each
 * stay well inside it. Both are run: the whole-file step is cut, the ranged one completes, and the result is
 * verified by digest root and by an independent `kofn-recover` of relay folders. A repair job resumed from
 * the progress it noted (a coordinator crash between ranges) keeps the chunks already stored.
 * PGlite only: the steps are the same SQL on PostgreSQL (repair.test.ts and renewal.test.ts run both).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { KofnError, shareChunkLength, type RelayTimeouts } from '@kofn/shared';
import { openDatabase, type Database } from './db/index.js';
import { files, jobs, relays as relayTable } from './db/schema.js';
import { createUser } from './auth.js';
import { ensureSigningKey } from './signing-keys.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import type { Ctx } from './file-access.js';
import { checkFile } from './health.js';
import { claim, complete } from './jobs.js';
import { enqueueRepair, placementsWithRelays, rebuildShareOn, repairShare } from './repair.js';
import { renewOnce } from './renewal.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { slowProxy, type SlowProxy } from './testing/slow-proxy.js';
import { protect } from './testing/protect.js';
import { recover } from './testing/recover.js';

const migrationsFolder = resolve(import.meta.dirname, '../../../drizzle');
/** 8 MiB + 5 in 1 MiB chunks: 10 share chunks a relay (metadata and 9 data). */
const SIZE = 8 * 1024 * 1024 + 5;
/**
 * The relays' lowered idle cut, and the hold on each repair term and each dealt contribution. A whole-file
 * collect takes at least 3 x 2 s (10 terms a helper, at most 4 fetched at a time: relay/src/repair.ts
 * COLLECT_WINDOW) and a whole-file deal at least 10 x 0.7 s, both over the cut whatever the machine's speed; a ranged step waits 2 s (3 terms at once) or
 * 1.4 s (2 contributions in turn), leaving 3 s or more for the work itself on a loaded machine (load 30 on
 * 2 cores when this was written).
 */
const IDLE_MS = 5_000;
const TERM_HOLD_MS = 2_000;
const DEAL_HOLD_MS = 700;
const SHARE = shareChunkLength(1024 * 1024);
/** Ranges of 3 chunks: one wave of the receiver's terms (up to 4 chunks at once); deals of 2 (~0.6 s). */
const REPAIR_STEP = 3 * SHARE;
const DEAL_STEP = 2 * SHARE;
const WHOLE = 2 ** 40;

describe('renewal and repair steps by ranges of chunks stay inside a relay idle cut that whole-file steps outlast (PGlite, (2,3))', () => {
  let database: Database;
  let relays: TestRelay[];
  let proxies: SlowProxy[];
  let alice: Ctx;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, relays: 10 } };
  // The coordinator's own bounds are far above the relays' cut: only the relays cut here.
  const timeouts: RelayTimeouts = { headersMs: 30_000, putHeadersMs: 30_000, idleMs: 30_000, totalMs: 120_000 };
  const data = new Map<string, Buffer>();

  beforeAll(async () => {
    database = await openDatabase({ migrationsFolder });
    const key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 3, { KOFN_RELAY_IDLE_TIMEOUT_MS: String(IDLE_MS) });
    // Every address the coordinator knows (and hands relays for each other) is a slowed proxy's.
    proxies = await Promise.all(
      relays.map((r) =>
        slowProxy(r.url, [
          { method: 'GET', path: /^\/v1\/repair\/[0-9a-f]{32}\/chunks\/\d+$/, ms: TERM_HOLD_MS },
          { method: 'PUT', path: /^\/v1\/files\/[0-9a-f]{32}\/epochs\/\d+\/from\/\d+\/chunks\/\d+$/, ms: DEAL_HOLD_MS }
        ])
      )
    );
    for (const [j, r] of relays.entries()) await database.db.update(relayTable).set({ url: proxies[j]!.url }).where(eq(relayTable.id, r.id));
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const user = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'password 123', role: 'user' }, 10);
    alice = { db: database.db, user, license, key, config };
  }, 120_000);

  afterAll(async () => {
    await Promise.all((proxies ?? []).map((p) => p.close()));
    await Promise.all((relays ?? []).map((r) => r.stop()));
    await database?.close();
  });

  const put = async (name: string): Promise<string> => {
    const bytes = randomBytes(SIZE);
    data.set(name, bytes);
    return protect(alice, name, bytes, 2);
  };
  const fileRow = async (id: string) => (await database.db.select().from(files).where(eq(files.id, id)))[0]!;
  /** What `kofn-recover` rebuilds of `name` from relay folders `js`. */
  const recovered = (name: string, js: number[]) => recover(js.map((j) => relays[j]!.dataDir)).get(name);
  const chunkDir = (j: number, fileId: string) => join(relays[j]!.dataDir, 'chunks', fileId.slice(0, 2), fileId);
  const codeOf = (p: Promise<unknown>) =>
    p.then(
      () => 'resolved',
      (e: unknown) => (e as KofnError).code
    );

  /** Rebuilds relay 1's share (its own x) from relays 2 and 3 with collect steps of `stepBytes`. */
  async function rebuildOnFirst(fileId: string, stepBytes: number): Promise<void> {
    const file = await fileRow(fileId);
    const where = await placementsWithRelays(database.db, fileId);
    const target = where.find((p) => p.relayId === relays[0]!.id)!;
    const helpers = where.filter((p) => p.relayId !== relays[0]!.id);
    await rebuildShareOn(alice.key, file, target.relay, target.x, helpers, target.digestRoot!, timeouts, { stepBytes });
  }

  it('repair: a whole-file collect is cut by the relay; collect by ranges rebuilds the share, verified and recoverable', async () => {
    const whole = await put('repair-whole.bin');
    const t = performance.now();
    expect(await codeOf(rebuildOnFirst(whole, WHOLE))).toMatch(/^RELAY_(TIMEOUT|BAD_ANSWER)$/);
    // Cut by the relay's idle limit (not at once, and long before the coordinator's own 30 s bounds).
    expect(performance.now() - t).toBeGreaterThanOrEqual(IDLE_MS - 100);
    expect(performance.now() - t).toBeLessThan(20_000);

    const ranged = await put('repair-ranged.bin');
    rmSync(chunkDir(0, ranged), { recursive: true, force: true });
    expect((await checkFile(database.db, alice.key, ranged, timeouts))?.state).toBe('at_risk');
    await enqueueRepair(database.db, ranged, relays[0]!.id);
    const job = (await claim(database.db, 'test', 60_000))!;
    expect(job.kind).toBe('repair-share');
    expect(await repairShare(database.db, alice.key, ranged, relays[0]!.id, timeouts, new Date(), job, REPAIR_STEP)).toBe('repaired');
    // The job noted its progress range by range, up to the end.
    const [row] = await database.db.select().from(jobs).where(eq(jobs.id, job.id));
    expect(row!.payload).toMatchObject({ resume: { epoch: 0, next: (await fileRow(ranged)).chunkCount + 1 } });
    await complete(database.db, job);
    expect((await checkFile(database.db, alice.key, ranged, timeouts))?.state).toBe('healthy');
    for (const pair of [
      [0, 1],
      [0, 2]
    ]) {
      expect(recovered('repair-ranged.bin', pair)?.equals(data.get('repair-ranged.bin')!), `relays ${pair.join('+')}`).toBe(true);
    }
  }, 120_000);

  it('repair resumed from the progress its job noted keeps the chunks already stored, and verifies whole', async () => {
    const fileId = await put('repair-resumed.bin');
    const file = await fileRow(fileId);
    const where = await placementsWithRelays(database.db, fileId);
    const target = where.find((p) => p.relayId === relays[0]!.id)!;
    const helpers = where.filter((p) => p.relayId !== relays[0]!.id);
    // A coordinator that stops after the ranges up to chunk 5 (its process ended: nothing after that runs).
    const stopped = new Error('coordinator gone');
    await expect(
      rebuildShareOn(alice.key, file, target.relay, target.x, helpers, target.digestRoot!, timeouts, {
        stepBytes: REPAIR_STEP,
        afterStep: (next) => (next >= 6 ? Promise.reject(stopped) : Promise.resolve())
      })
    ).rejects.toBe(stopped);
    const kept = readdirSync(chunkDir(0, fileId)).filter((n) => Number(n.split('.')[0]) < 6);
    expect(kept).toHaveLength(6);
    const inodes = new Map(kept.map((n) => [n, statSync(join(chunkDir(0, fileId), n)).ino]));
    await database.db.insert(jobs).values({
      kind: 'repair-share',
      key: `${fileId}:${relays[0]!.id}`,
      payload: { fileId, relayId: relays[0]!.id, resume: { epoch: 0, x: target.x, next: 6 } },
      status: 'pending',
      runAfter: new Date(0)
    });
    // The share is not good yet (the check finds chunks missing), so the resumed job has work to do.
    expect((await checkFile(database.db, alice.key, fileId, timeouts))?.state).toBe('at_risk');
    const job = (await claim(database.db, 'test', 60_000))!;
    expect(job.payload).toMatchObject({ resume: { next: 6 } });
    expect(await repairShare(database.db, alice.key, fileId, relays[0]!.id, timeouts, new Date(), job, REPAIR_STEP)).toBe('repaired');
    await complete(database.db, job);
    // Not dropped and rebuilt: the very files stored before the stop are still there.
    for (const [n, ino] of inodes) expect(statSync(join(chunkDir(0, fileId), n)).ino, n).toBe(ino);
    expect(recovered('repair-resumed.bin', [0, 2])?.equals(data.get('repair-resumed.bin')!)).toBe(true);
  }, 120_000);

  it('renewal: a whole-file deal is cut by the relay; deal, prepare and check by ranges renew, every pair rebuilds', async () => {
    const whole = await put('renew-whole.bin');
    const deps = (stepBytes: number) => ({ db: database.db, key: alice.key, timeouts, stepBytes });
    const t = performance.now();
    // The dealer's connection is cut: the coordinator sees the relay as unreachable, after the idle limit.
    await expect(renewOnce(deps(WHOLE), whole, 0)).rejects.toMatchObject({ code: 'RELAYS_OFFLINE', message: expect.stringMatching(/^Storage server test-relay-\d is not reachable\.$/) });
    expect(performance.now() - t).toBeGreaterThanOrEqual(IDLE_MS - 100);
    expect((await fileRow(whole)).epoch).toBe(0);

    const ranged = await put('renew-ranged.bin');
    expect(await renewOnce(deps(DEAL_STEP), ranged, 0)).toBe('renewed');
    expect((await fileRow(ranged)).epoch).toBe(1);
    expect((await checkFile(database.db, alice.key, ranged, timeouts))?.state).toBe('healthy');
    for (const pair of [
      [0, 1],
      [0, 2],
      [1, 2]
    ]) {
      expect(recovered('renew-ranged.bin', pair)?.equals(data.get('renew-ranged.bin')!), `relays ${pair.join('+')}`).toBe(true);
    }
  }, 120_000);
});
