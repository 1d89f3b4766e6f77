/**
 * Multi-level sharing on the coordinator (issue #21): reservations with a layout (2 of 3 groups, 2 of 3
 * relays in each) over nine real relay processes, on PGlite and PostgreSQL: the manifest tree stored and
 * answered, tokens for every relay, commit verifying every relay, retrieval with a whole group and one
 * more relay missing, offline recovery from the folders of K groups with k_g relays each, removal on every
 * relay; each bad layout refused with its code (a 400) and nothing stored; renewal and repair leave tree
 * files alone.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { count, eq } from 'drizzle-orm';
import type { ErrorCode } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import { files, jobs, placements, relays } from './db/schema.js';
import { commitFile, manifest, removeFile } from './files.js';
import { reserveFile } from './reservations.js';
import { errorResponse } from './http.js';
import { listHistory } from './history.js';
import { runOne } from './jobs.js';
import { jobHandlers } from './maintenance.js';
import { renewNow, renewOnce, scheduleRenewals } from './renewal.js';
import { repairShare } from './repair.js';
import { updateRelay, listRelays } from './relays.js';
import { retrieveTree, roots, uploadTree } from './testing/protect.js';
import { chunksOn, recover } from './testing/recover.js';
import { errorCode, useFileServices } from './testing/file-services.js';

describeDatabases('multi-level layouts on $name with nine real relays', { once: true }, ({ open }) => {
  const fx = useFileServices(open, 9);
  const ids = () => fx.relays.map((r) => r.id);
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
      ['LAYOUT_UNKNOWN_DEPLOYMENT', { ...l(), groups: [l().groups[0], l().groups[1], { kind: 'remote', deployment: 'other', k: 2, n: 3, fileId: 'ab'.repeat(16) }] }],
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

  it('renewal and repair skip tree files and leave their shares as they were', async () => {
    const data = randomBytes(2500);
    const u = await uploadTree(fx.alice, 'no-renewal.bin', data, layout());
    await commitFile(fx.alice, u.fileId, { roots: await roots(u) });
    const held = fx.relays.map((r) =>
      chunksOn(r)
        .filter((c) => c.startsWith(u.fileId))
        .sort()
    );
    expect(await renewOnce({ db: fx.database.db, key: fx.alice.key }, u.fileId, 0)).toBe('stale');
    expect(await errorCode(renewNow(fx.alice, u.fileId))).toBe('LAYOUT_NOT_SUPPORTED');
    // Far in the future every flat file is due; the tree file is never queued.
    await scheduleRenewals(fx.database.db, 1, 1000, new Date(Date.now() + 365 * 86_400_000));
    const queued = await fx.database.db.select().from(jobs).where(eq(jobs.kind, 'renew-file'));
    expect(queued.some((j) => (j.payload as { fileId?: string }).fileId === u.fileId)).toBe(false);
    expect(await repairShare(fx.database.db, fx.alice.key, u.fileId, ids()[0]!)).toBe('nothing');
    expect(
      fx.relays.map((r) =>
        chunksOn(r)
          .filter((c) => c.startsWith(u.fileId))
          .sort()
      )
    ).toEqual(held);
    const [row] = await fx.database.db.select().from(files).where(eq(files.id, u.fileId));
    expect(row!.epoch).toBe(0);
    expect(Buffer.from(await retrieveTree(fx.alice, u.fileId, ids().slice(0, 6))).equals(data)).toBe(true);
  });
});
