/**
 * Multi-level sharing on the coordinator (issue #21): reservations with a layout (2 of 3 groups, 2 of 3
 * relays in each) over nine real relay processes, on PGlite and PostgreSQL: the manifest tree stored and
 * answered, tokens for every relay, commit verifying every relay, retrieval with a whole group and one
 * more relay missing, offline recovery from the folders of K groups with k_g relays each, removal on every
 * relay; each bad layout refused with its code (a 400) and nothing stored; renewal renews tree files by groups;
 * a lost sub-share is rebuilt by its own group, and a lost or draining relay's sub-share moves to a relay
 * of the same group label, with the manifest tree following.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { count, eq, inArray } from 'drizzle-orm';
import type { ErrorCode } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import { files, jobs, placements, relays } from './db/schema.js';
import { commitFile, manifest, removeFile } from './files.js';
import { replaceRelay, reserveFile } from './reservations.js';
import { errorResponse } from './http.js';
import { listHistory } from './history.js';
import { runOne } from './jobs.js';
import { jobHandlers } from './maintenance.js';
import { renewOnce } from './renewal.js';
import { repairShare } from './repair.js';
import { checkFile } from './health.js';
import { drainRelay, lifecycleHandlers, markLost } from './relay-lifecycle.js';
import { updateRelay, listRelays } from './relays.js';
import { retrieveTree, roots, uploadTree } from './testing/protect.js';
import { chunksOn, recover } from './testing/recover.js';
import { errorCode, useFileServices } from './testing/file-services.js';

describeDatabases('multi-level layouts on $name with nine real relays', { once: true }, ({ open }) => {
  // Nine relays in the trees, and two spares a move may go to.
  const fx = useFileServices(open, 11);
  const ids = () => fx.relays.slice(0, 9).map((r) => r.id);
  /** 2 of 3 groups; group g holds relays 3g..3g+2, any 2 of them. */
  const layout = () => ({
    kind: 'tree',
    k: 2,
    groups: [0, 1, 2].map((g) => ({ kind: 'local', k: 2, label: `cloud ${g}`, relays: ids().slice(3 * g, 3 * g + 3) }))
  });
  const relayDir = (id: string) => fx.relays.find((r) => r.id === id)!.dataDir;

  it.each([0, 1000, 3 * 1024 * 1024 + 5])('%i bytes: stored as a tree, retrieved with one group and one more relay missing, recovered offline, removed everywhere', async (size) => {
    const data = randomBytes(size);
    const u = await uploadTree(fx.alice, `tree-${size}.bin`, data, layout());
    // Every relay of the tree got a token, and the reservation answered the tree with every x.
    expect(u.placements.map((p) => p.relayId)).toEqual(ids());
    expect(u.placements.every((p) => typeof p.token === 'string' && p.groupX !== undefined)).toBe(true);
    await commitFile(fx.alice, u.fileId, { roots: await roots(u) });
    expect((await listHistory(fx.database.db, fx.alice.user.id))[0]).toMatchObject({ operation: 'protect', fileName: `tree-${size}.bin`, detail: '2 of 3 groups, 9 storage servers' });
    const m = await manifest(fx.alice, u.fileId);
    expect(m.k).toBe(2);
    expect(m.n).toBe(9);
    expect(m.layout?.groups.map((g) => [g.kind, g.k, g.kind === 'local' ? g.relays.map((r) => r.relayId) : []])).toEqual([0, 1, 2].map((g) => ['local', 2, ids().slice(3 * g, 3 * g + 3)]));
    const [row] = await fx.database.db.select().from(files).where(eq(files.id, u.fileId));
    expect(row!.layout).toEqual(m.layout);
    // Group 0 down, relay 4 (group 1) down: groups 1 (relays 3, 5) and 2 (relays 6, 7, 8).
    const use = [3, 5, 6, 7, 8].map((i) => ids()[i]!);
    expect(Buffer.from(await retrieveTree(fx.alice, u.fileId, use)).equals(data)).toBe(true);
    // Exactly k_g relays of exactly K groups, read offline by kofn-recover from the relays' own folders.
    const out = recover([ids()[3]!, ids()[5]!, ids()[7]!, ids()[8]!].map(relayDir));
    expect(out.get(`tree-${size}.bin`)?.equals(data)).toBe(true);
    // One group and one relay of another (K-1 groups' worth) rebuild nothing.
    expect(recover([ids()[0]!, ids()[1]!, ids()[2]!, ids()[4]!].map(relayDir)).has(`tree-${size}.bin`)).toBe(false);
    // Bob, not a grantee, sees nothing of it.
    expect(await errorCode(manifest(fx.bob, u.fileId))).toBe('NOT_FOUND');
    await removeFile(fx.alice, u.fileId);
    const handlers = jobHandlers(fx.database.db, fx.alice.key);
    while (await runOne(fx.database.db, 'test', handlers));
    for (const r of fx.relays)
      expect(
        chunksOn(r).filter((c) => c.startsWith(u.fileId)),
        r.name
      ).toEqual([]);
  });

  it('refuses each bad layout with its code, as a 400, and stores nothing', async () => {
    const db = fx.database.db;
    const before = async () => [(await db.select({ n: count() }).from(files))[0]!.n, (await db.select({ n: count() }).from(placements))[0]!.n];
    const start = await before();
    const l = layout;
    const cases: Array<[ErrorCode, unknown, Record<string, unknown>?]> = [
      ['LAYOUT_RELAY_TWICE', { ...l(), groups: [l().groups[0], { ...l().groups[1], relays: [ids()[0], ids()[4], ids()[5]] }, l().groups[2]] }],
      ['LAYOUT_GROUP_THRESHOLD', { ...l(), groups: [{ ...l().groups[0], k: 4 }, l().groups[1], l().groups[2]] }],
      ['LAYOUT_GROUP_THRESHOLD', { ...l(), groups: [{ ...l().groups[0], k: 1 }, l().groups[1], l().groups[2]] }],
      ['LAYOUT_EMPTY_GROUP', { ...l(), groups: [{ ...l().groups[0], relays: [] }, l().groups[1], l().groups[2]] }],
      ['LAYOUT_TOP_THRESHOLD', { ...l(), k: 4 }],
      ['LAYOUT_TOP_THRESHOLD', { ...l(), k: 1 }],
      ['LAYOUT_UNKNOWN_RELAY', { ...l(), groups: [{ ...l().groups[0], relays: [ids()[0], ids()[1], 'no-such-relay'] }, l().groups[1], l().groups[2]] }],
      ['LAYOUT_UNKNOWN_DEPLOYMENT', { ...l(), k: 3, groups: [l().groups[0], l().groups[1], { kind: 'remote', deployment: 'other', k: 2, n: 3, fileId: 'ab'.repeat(16) }] }],
      ['LAYOUT_INVALID', { ...l(), groups: [l().groups[0], l().groups[1], { kind: 'remote', deployment: 'other', k: 2, n: 3 }] }],
      ['LAYOUT_INVALID', { kind: 'tree', k: 2, groups: 'three' }],
      ['LAYOUT_INVALID', 'tree'],
      ['LAYOUT_INVALID', l(), { relays: ids() }],
      ['LAYOUT_INVALID', l(), { k: 3 }]
    ];
    for (const [code, bad, extra] of cases) {
      const err = await reserveFile(fx.alice, { name: `bad-${code}.bin`, size: 10, type: 'text/plain', layout: bad, ...extra }).then(
        () => undefined,
        (e: unknown) => e
      );
      expect((err as { code?: string } | undefined)?.code, JSON.stringify(bad)).toBe(code);
      expect(errorResponse(err).status).toBe(400);
    }
    expect(await before()).toEqual(start);
  });

  it('a relay in another lifecycle than active is an unknown relay for a layout', async () => {
    await fx.database.db.update(relays).set({ lifecycle: 'retired' }).where(eq(relays.id, ids()[8]!));
    try {
      expect(await errorCode(reserveFile(fx.alice, { name: 'retired.bin', size: 1, layout: layout() }))).toBe('LAYOUT_UNKNOWN_RELAY');
    } finally {
      await fx.database.db.update(relays).set({ lifecycle: 'active' }).where(eq(relays.id, ids()[8]!));
    }
  });

  it('an administrator sets a relay group label; the relay list shows it', async () => {
    const admin = fx.alice.user.id;
    await updateRelay(fx.database.db, admin, ids()[0]!, { group: 'cloud A' });
    const listed = await listRelays(fx.database.db, new Date(), 3600_000);
    expect(listed.find((r) => r.id === ids()[0])?.group).toBe('cloud A');
    await updateRelay(fx.database.db, admin, ids()[0]!, { group: null });
    expect((await listRelays(fx.database.db, new Date(), 3600_000)).find((r) => r.id === ids()[0])?.group).toBeNull();
    expect(await errorCode(updateRelay(fx.database.db, admin, ids()[0]!, { group: 7 }))).toBe('BAD_REQUEST');
  });

  it('renewal renews tree files (renewal-tree.test.ts has the details), and a good share of the new epoch is not repaired', async () => {
    const data = randomBytes(2500);
    const u = await uploadTree(fx.alice, 'no-renewal.bin', data, layout());
    await commitFile(fx.alice, u.fileId, { roots: await roots(u) });
    expect(await renewOnce({ db: fx.database.db, key: fx.alice.key }, u.fileId, 0)).toBe('renewed');
    // A share that is there and good (as a check finds it, by the roots of the new epoch) is not repaired.
    await checkFile(fx.database.db, fx.alice.key, u.fileId);
    expect(await repairShare(fx.database.db, fx.alice.key, u.fileId, ids()[0]!)).toBe('nothing');
    const [row] = await fx.database.db.select().from(files).where(eq(files.id, u.fileId));
    expect(row!.epoch).toBe(1);
    expect(Buffer.from(await retrieveTree(fx.alice, u.fileId, ids().slice(0, 6))).equals(data)).toBe(true);
  });

  /** The bytes of every chunk a relay holds of a file, by chunk file name. */
  const bytesOn = (id: string, fileId: string) => {
    const dir = join(relayDir(id), 'chunks', fileId.slice(0, 2), fileId);
    return new Map(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n))]));
  };

  it('a lost sub-share is rebuilt in place by k_g relays of its own group: the same bytes, and the file reads with it', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 11);
    const u = await uploadTree(fx.alice, 'tree-repair.bin', data, layout());
    await commitFile(fx.alice, u.fileId, { roots: await roots(u) });
    const lost = ids()[4]!;
    const before = bytesOn(lost, u.fileId);
    rmSync(join(relayDir(lost), 'chunks', u.fileId.slice(0, 2), u.fileId), { recursive: true, force: true });
    expect((await checkFile(fx.database.db, fx.alice.key, u.fileId))?.shares.find((s) => s.relayId === lost)?.state).toBe('missing');
    expect(await repairShare(fx.database.db, fx.alice.key, u.fileId, lost)).toBe('repaired');
    // Same polynomial, same x: the very bytes, version-3 headers included.
    const after = bytesOn(lost, u.fileId);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [n, b] of before) expect(after.get(n)?.equals(b), n).toBe(true);
    const [history] = await listHistory(fx.database.db, fx.alice.user.id);
    // Rebuilt by group 1's other relays (3 and 5), never by another group's.
    expect(history).toMatchObject({ operation: 'repair', fileName: 'tree-repair.bin' });
    const helperNames = [3, 5].map((i) => fx.relays[i]!.name);
    expect(history!.detail).toContain(`by ${helperNames.join(', ')}`);
    // The rebuilt share serves: group 1 read from relays 4 and 3, group 2 from 6 and 7.
    expect(
      Buffer.from(
        await retrieveTree(
          fx.alice,
          u.fileId,
          [3, 4, 6, 7].map((i) => ids()[i]!)
        )
      ).equals(data)
    ).toBe(true);
    expect(
      recover([3, 4, 6, 7].map((i) => relayDir(ids()[i]!)))
        .get('tree-repair.bin')
        ?.equals(data)
    ).toBe(true);
  });

  it('a lost relay\u2019s and a draining relay\u2019s sub-shares move to a relay of the same group label, the manifest tree follows, and the file reads through the new relays', async () => {
    const admin = fx.alice.user.id;
    const [spareA, spareB] = [fx.relays[9]!, fx.relays[10]!];
    // Group 0's relays and spare A are "cloud 0"; spare B is of another cloud and must never take group 0's share.
    for (const i of [0, 1, 2]) await updateRelay(fx.database.db, admin, ids()[i]!, { group: 'cloud 0' });
    await updateRelay(fx.database.db, admin, spareA.id, { group: 'cloud 0' });
    await updateRelay(fx.database.db, admin, spareB.id, { group: 'cloud 9' });
    const data = randomBytes(2 * 1024 * 1024 + 3);
    const u = await uploadTree(fx.alice, 'tree-move.bin', data, layout());
    await commitFile(fx.alice, u.fileId, { roots: await roots(u) });
    const xOf = async (relayId: string) => (await fx.database.db.select().from(placements).where(eq(placements.fileId, u.fileId))).find((p) => p.relayId === relayId);
    const lost = ids()[1]!;
    const lostPlacement = await xOf(lost);
    const handlers = { ...jobHandlers(fx.database.db, fx.alice.key), ...lifecycleHandlers({ db: fx.database.db, key: fx.alice.key, offlineAfterMs: 3600_000 }) };
    // Relay 1 is lost (its disk gone): its sub-share is rebuilt from relays 0 and 2 onto spare A.
    rmSync(join(relayDir(lost), 'chunks', u.fileId.slice(0, 2), u.fileId), { recursive: true, force: true });
    await markLost(fx.database.db, admin, lost);
    while (await runOne(fx.database.db, 'test', handlers));
    const moved = await xOf(spareA.id);
    expect(moved && [moved.x, moved.groupX]).toEqual([lostPlacement!.x, lostPlacement!.groupX]);
    expect(await xOf(lost)).toBeUndefined();
    expect(await xOf(spareB.id)).toBeUndefined();
    const m = await manifest(fx.alice, u.fileId);
    const group0 = m.layout?.groups[0];
    expect(group0?.kind === 'local' && group0.relays.map((r) => r.relayId)).toEqual([ids()[0], spareA.id, ids()[2]]);
    const [row] = await fx.database.db.select().from(files).where(eq(files.id, u.fileId));
    expect(row!.layout).toEqual(m.layout);
    expect(Buffer.from(await retrieveTree(fx.alice, u.fileId, [spareA.id, ids()[0]!, ids()[6]!, ids()[8]!])).equals(data)).toBe(true);
    expect(recover([spareA.id, ids()[2]!, ids()[3]!, ids()[4]!].map(relayDir)).get('tree-move.bin')?.equals(data)).toBe(true);
    // Relay 0 drains: group 0 has no other "cloud 0" relay free, and spare B is of another cloud: the move waits.
    await drainRelay(fx.database.db, admin, ids()[0]!);
    while (await runOne(fx.database.db, 'test', handlers));
    expect(await xOf(ids()[0]!)).toBeDefined();
    expect(await xOf(spareB.id)).toBeUndefined();
    const [waiting] = await fx.database.db
      .select()
      .from(jobs)
      .where(eq(jobs.key, `${u.fileId}:${ids()[0]!}`));
    expect(waiting?.lastError).toContain('"cloud 0"');
    // Spare B joins cloud 0: the move goes there (copied from the draining relay), and relay 0 is released.
    await updateRelay(fx.database.db, admin, spareB.id, { group: 'cloud 0' });
    await fx.database.db.update(jobs).set({ runAfter: new Date() }).where(eq(jobs.id, waiting!.id));
    while (await runOne(fx.database.db, 'test', handlers));
    expect((await xOf(spareB.id))?.groupX).toBe(lostPlacement!.groupX);
    expect(await xOf(ids()[0]!)).toBeUndefined();
    const after = await manifest(fx.alice, u.fileId);
    const g0 = after.layout?.groups[0];
    expect(g0?.kind === 'local' && g0.relays.map((r) => r.relayId)).toEqual([spareB.id, spareA.id, ids()[2]]);
    expect(chunksOn(fx.relays[0]!).filter((c) => c.startsWith(u.fileId))).toEqual([]);
    expect(Buffer.from(await retrieveTree(fx.alice, u.fileId, [spareB.id, spareA.id, ids()[6]!, ids()[7]!])).equals(data)).toBe(true);
    // Two moves by rebuild and copy over nine relays: 8 s alone, over 30 s in a CPU-bound CI run at load 25.
  }, 120_000);

  it('a relay of a tree file that fails during the upload is replaced by a spare of its group label at its x; the manifest tree follows; with no such spare, the refusal names the group', async () => {
    const admin = fx.alice.user.id;
    const spareB = fx.relays[10]!;
    // Relays 1 and 2 back in service after the test before (lost, drained).
    await fx.database.db
      .update(relays)
      .set({ lifecycle: 'active' })
      .where(inArray(relays.id, [ids()[0]!, ids()[1]!]));
    // Spare B (no tree here holds it yet) is first of another cloud, then of group 1's.
    await updateRelay(fx.database.db, admin, spareB.id, { group: 'cloud 9' });
    for (const i of [3, 4, 5]) await updateRelay(fx.database.db, admin, ids()[i]!, { group: 'cloud 1' });
    const failed = ids()[4]!;
    const r = await reserveFile(fx.alice, { name: 'tree-failover-refused.bin', size: 10, layout: layout() });
    const refused = await replaceRelay(fx.alice, r.fileId, { relayId: failed }).then(
      () => 'ok',
      (err: unknown) => `${(err as { code?: string }).code}: ${(err as Error).message}`
    );
    expect(refused).toBe(`RELAYS_OFFLINE: Some storage servers necessary for the operation are not connected. No other storage server in the group "cloud 1" can replace ${fx.relays[4]!.name}.`);
    const rows = await fx.database.db.select().from(placements).where(eq(placements.fileId, r.fileId));
    expect(rows.map((p) => p.relayId).sort()).toEqual([...ids()].sort());
    // Spare B joins cloud 1: the upload's failover puts it in relay 5's place, at its x and group.
    await updateRelay(fx.database.db, admin, spareB.id, { group: 'cloud 1' });
    const data = randomBytes(1024 * 1024 + 17);
    const u = await uploadTree(fx.alice, 'tree-failover.bin', data, layout(), { replace: failed });
    expect(u.placements.map((p) => p.relayId)).toEqual(ids().map((id) => (id === failed ? spareB.id : id)));
    const taken = (await fx.database.db.select().from(placements).where(eq(placements.fileId, u.fileId))).find((p) => p.relayId === spareB.id);
    expect(taken?.groupX).toBe(u.placements.find((p) => p.relayId === spareB.id)?.groupX);
    await commitFile(fx.alice, u.fileId, { roots: await roots(u) });
    const m = await manifest(fx.alice, u.fileId);
    const group1 = m.layout?.groups[1];
    expect(group1?.kind === 'local' && group1.relays.map((t) => [t.relayId, t.x])).toEqual([
      [ids()[3], m.placements.find((p) => p.relayId === ids()[3])!.x],
      [spareB.id, taken!.x],
      [ids()[5], m.placements.find((p) => p.relayId === ids()[5])!.x]
    ]);
    // Group 1 read through the spare and relay 6; group 0 through relays 1 and 2.
    expect(Buffer.from(await retrieveTree(fx.alice, u.fileId, [spareB.id, ids()[5]!, ids()[0]!, ids()[1]!])).equals(data)).toBe(true);
    expect(recover([spareB.id, ids()[3]!, ids()[6]!, ids()[7]!].map(relayDir)).get('tree-failover.bin')?.equals(data)).toBe(true);
    // The failed relay holds nothing of it once its deletion job ran.
    const handlers = jobHandlers(fx.database.db, fx.alice.key);
    while (await runOne(fx.database.db, 'test', handlers));
    expect(chunksOn(fx.relays[4]!).filter((c) => c.startsWith(u.fileId))).toEqual([]);
  }, 120_000);
});
