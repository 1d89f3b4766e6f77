/**
 * Relay lifecycle (issue #16) on PGlite and PostgreSQL with real relay processes: a drained relay's shares
 * move to another relay at the same x (verified by digest, renewed files too), the drained relay ends
 * empty and can be retired; a relay marked lost has its shares rebuilt elsewhere; replays are refused,
 * uploads no longer choose a relay out of service, and a retired relay no longer counts for the licence.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { files, jobs, placements } from './db/schema.js';
import { createUser } from './auth.js';
import { ensureSigningKey } from './signing-keys.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import { manifest } from './files.js';
import { reserveFile } from './reservations.js';
import type { Ctx } from './file-access.js';
import { runOne } from './jobs.js';
import { listHistory } from './history.js';
import { checkFile, healthJobHandlers } from './health.js';
import { repairJobHandlers } from './repair.js';
import { DROP_JOB, renewOnce, renewalHandlers } from './renewal.js';
import { jobHandlers } from './maintenance.js';
import { countRelays } from './relays.js';
import { DRAIN_JOB, MOVE_JOB, drainRelay, lifecycleHandlers, lifecycleViews, markLost, retireRelay } from './relay-lifecycle.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect, retrieve, retrieveWith } from './testing/protect.js';
import { chunksOn, recover } from './testing/recover.js';

describeDatabases('relay lifecycle on $name', { once: true }, ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let alice: Ctx;
  let adminId: string;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, relays: 10 } };
  const data = new Map<string, Buffer>();
  const ids = new Map<string, string>();
  const timeouts = { headersMs: 5_000, putHeadersMs: 5_000, idleMs: 5_000, totalMs: 30_000 };

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 5);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const user = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'password 123', role: 'user' }, 10);
    adminId = (await createUser(database.db, { email: 'root@x.test', displayName: 'Root', password: 'password 123', role: 'admin' }, 10)).id;
    alice = { db: database.db, user, license, key, config };
    const put = async (name: string, size: number, k: number, on: TestRelay[]) => {
      const bytes = randomBytes(size);
      data.set(name, bytes);
      ids.set(
        name,
        await protect(
          alice,
          name,
          bytes,
          k,
          on.map((r) => r.id)
        )
      );
    };
    await put('two-three.bin', 1024 * 1024 + 3, 2, relays.slice(0, 3));
    await put('empty.bin', 0, 2, relays.slice(0, 3));
    await put('renewed.bin', 150_000, 2, relays.slice(0, 4));
    const deps = { db: database.db, key, timeouts };
    const renewed = ids.get('renewed.bin')!;
    expect(await renewOnce(deps, renewed, 0)).toBe('renewed');
    await renewalHandlers(deps)[DROP_JOB]!({ fileId: renewed, epoch: 0, dxs: [] }, undefined as never);
    for (const id of ids.values()) await checkFile(database.db, key, id);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await database.drop();
  });

  async function runJobs(): Promise<void> {
    const handlers = {
      ...jobHandlers(database.db, alice.key),
      ...healthJobHandlers(database.db, alice.key, { ...timeouts, totalMs: 30_000 }),
      ...repairJobHandlers(database.db, alice.key),
      ...lifecycleHandlers({ db: database.db, key: alice.key, offlineAfterMs: 3600_000, timeouts })
    };
    while (await runOne(database.db, 'test', handlers)) {
      /* next */
    }
  }

  const viewOf = async (r: TestRelay) => (await lifecycleViews(database.db)).find((v) => v.relayId === r.id)!;

  it('drain: no new shares go to the relay, a second drain is refused, and it cannot be retired while it holds shares', async () => {
    const view = await drainRelay(database.db, adminId, relays[0]!.id);
    expect(view).toMatchObject({ lifecycle: 'draining', remaining: 3, total: 3, done: false });
    await expect(drainRelay(database.db, adminId, relays[0]!.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(retireRelay(database.db, adminId, relays[0]!.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(drainRelay(database.db, adminId, 'not-a-relay')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // Uploads choose relays in service only, by default and when named.
    const r = await reserveFile(alice, { name: 'new.bin', size: 10, type: '', k: 2 });
    expect(r.placements.map((p) => p.relayId)).not.toContain(relays[0]!.id);
    await expect(reserveFile(alice, { name: 'named.bin', size: 10, type: '', k: 2, relays: [relays[0]!.id, relays[1]!.id] })).rejects.toMatchObject({ code: 'WRONG_VALUE' });
    await database.db.delete(files).where(eq(files.id, r.fileId));
  });

  it('the drain job moves every share at the same x, verified; the relay ends empty; every file reads byte-identical', async () => {
    const before = await database.db.select().from(placements).where(eq(placements.relayId, relays[0]!.id));
    await runJobs();
    const moves = await database.db.select().from(jobs).where(eq(jobs.kind, MOVE_JOB));
    expect(moves.map((j) => [j.status, j.lastError])).toEqual(moves.map(() => ['done', null]));
    expect(await database.db.select().from(placements).where(eq(placements.relayId, relays[0]!.id))).toEqual([]);
    for (const p of before) {
      const [moved] = await database.db
        .select()
        .from(placements)
        .where(and(eq(placements.fileId, p.fileId), eq(placements.x, p.x)));
      // The same x, root and epoch, on another relay.
      expect(moved).toMatchObject({ x: p.x, digestRoot: p.digestRoot, rootEpoch: p.rootEpoch });
      expect(moved!.relayId).not.toBe(relays[0]!.id);
    }
    expect(chunksOn(relays[0]!)).toEqual([]);
    expect(await viewOf(relays[0]!)).toMatchObject({ lifecycle: 'draining', remaining: 0, done: true, failing: 0 });
    for (const [name, id] of ids) {
      expect((await checkFile(database.db, alice.key, id))?.state, name).toBe('healthy');
      expect(Buffer.from(await retrieve(alice, id)).equals(data.get(name)!), name).toBe(true);
    }
    // An independent decode of the relay that took relay 1's share of two-three.bin with one other relay.
    const [took] = await database.db
      .select()
      .from(placements)
      .where(and(eq(placements.fileId, ids.get('two-three.bin')!), eq(placements.x, before.find((p) => p.fileId === ids.get('two-three.bin'))!.x)));
    const got = recover([relays.find((r) => r.id === took!.relayId)!.dataDir, relays[2]!.dataDir]);
    expect(got.get('two-three.bin')?.equals(data.get('two-three.bin')!)).toBe(true);
    expect(got.get('empty.bin')).toEqual(data.get('empty.bin'));
    const history = (await listHistory(database.db, alice.user.id)).filter((h) => h.operation === 'repair');
    expect(history.filter((h) => h.detail.startsWith('share moved from test-relay-1 (draining) to ')).length).toBe(3);
    const drains = await database.db.select().from(jobs).where(eq(jobs.kind, DRAIN_JOB));
    expect(drains.map((j) => j.status)).toEqual(['done']);
  }, 120_000);

  it('retire: a drained relay is retired once, stops counting for the licence, and is not listed for uploads', async () => {
    const before = await countRelays(database.db);
    expect(await retireRelay(database.db, adminId, relays[0]!.id)).toMatchObject({ lifecycle: 'retired' });
    await expect(retireRelay(database.db, adminId, relays[0]!.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(drainRelay(database.db, adminId, relays[0]!.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await countRelays(database.db)).toBe(before - 1);
    const admin = (await listHistory(database.db, adminId)).filter((h) => h.operation === 'relay_lifecycle').map((h) => h.detail);
    expect(admin).toEqual(expect.arrayContaining(['drain of storage server test-relay-1 started: 3 share(s) to move', 'storage server test-relay-1 retired']));
  });

  it('lost: a relay gone for good has its shares rebuilt elsewhere; a share with nowhere to go waits, named', async () => {
    // Relay 2 dies for good (process and disk).
    await relays[1]!.stop();
    expect(await markLost(database.db, adminId, relays[1]!.id)).toMatchObject({ lifecycle: 'lost', total: 3 });
    await expect(markLost(database.db, adminId, relays[1]!.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    await runJobs();
    // two-three.bin and empty.bin (on relays 2, 3, 5) move to relay 4; renewed.bin is on 2, 3, 4 and 5
    // already, so no relay in service can take its share: that move waits, and says why.
    const left = await database.db.select().from(placements).where(eq(placements.relayId, relays[1]!.id));
    expect(left.map((p) => p.fileId)).toEqual([ids.get('renewed.bin')]);
    const view = await viewOf(relays[1]!);
    expect(view).toMatchObject({ lifecycle: 'lost', remaining: 1, done: false, failing: 1 });
    expect(view.lastError).toMatch(/No storage server in service and online can take this share/);
    for (const name of ['two-three.bin', 'empty.bin']) {
      const id = ids.get(name)!;
      expect((await checkFile(database.db, alice.key, id))?.state, name).toBe('healthy');
      expect(Buffer.from(await retrieve(alice, id)).equals(data.get(name)!), name).toBe(true);
    }
    expect(recover([relays[3]!.dataDir, relays[2]!.dataDir]).get('two-three.bin')?.equals(data.get('two-three.bin')!)).toBe(true);
    // The renewed file still reads from k good shares (the lost relay's left out, as a browser does).
    const m = await manifest(alice, ids.get('renewed.bin')!);
    expect(Buffer.from(await retrieveWith({ ...m, placements: m.placements.filter((p) => p.relayId !== relays[1]!.id) })).equals(data.get('renewed.bin')!)).toBe(true);
  }, 120_000);
});
