/**
 * Reservations, what Stryker's reservations.ts run left alive (issue #24): the x's drawn by the partial
 * Fisher–Yates (with `randomBelow` steered, and over 255 servers, the most a file may have), the linked
 * deployments read only for a layout with a remote group, `onConflict` and `mode` and their refusals, a
 * layout's own checks and the tree it answers, names settled per folder (keep both in a batch, replace, a
 * folder never replaced, a folder in the trash), the quota lock and its warning, batches inserted in slices
 * of 200, the sweep's cut-off, and replacing a relay of an upload (the spare with most free space, what
 * `exclude` counts, a tree file, two replacements at once, the job that cleans the old relay). Reserving
 * reads relay rows and signs tokens without contacting relays, so the relays are registered rows
 * (testing/relays.ts registerTestRelay).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { and, eq, inArray } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import type { Reservation } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import type { Database, Db } from './db/index.js';
import { federationRemotes, files, folders, grants, jobs, placements, relays } from './db/schema.js';
import { createUser } from './auth.js';
import { loadConfig } from './config.js';
import { ensureSigningKey } from './signing-keys.js';
import { UNLICENSED, type License } from './license.js';
import { createFolder } from './folders.js';
import { heldBytes } from './usage.js';
import { replaceRelay, reserveFile, reserveFiles, sweepReservations } from './reservations.js';
import type { Ctx } from './file-access.js';
import { registerTestRelay } from './testing/relays.js';
import { loggedDb } from './testing/logged-db.js';

/** `randomBelow` as reservations.ts sees it: the real one unless a test steers it; every call's bound kept. */
const draws = vi.hoisted(() => ({ steer: undefined as ((n: number) => number) | undefined, bounds: [] as number[] }));
vi.mock('@kofn/shared', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@kofn/shared')>();
  return {
    ...actual,
    randomBelow: (n: number): number => {
      draws.bounds.push(n);
      return draws.steer ? draws.steer(n) : actual.randomBelow(n);
    }
  };
});

afterEach(() => {
  draws.steer = undefined;
  draws.bounds = [];
  vi.restoreAllMocks();
});

const refusal = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (err: unknown) => `${(err as { code?: string }).code}: ${(err as Error).message}`
  );

const DEPLOYMENT = 'dep-mutants';
const SUB_FILE = 'fedcba9876543210'.repeat(2);
const LOCK = 'select pg_advisory_xact_lock(7102)';
/** x's 1..255 in order: the pool the partial Fisher–Yates draws from. */
const POOL = Array.from({ length: 255 }, (_, i) => i + 1);

/** The partial Fisher–Yates over POOL with the draws given, for the x's a steered `randomBelow` must give. */
function fisherYates(n: number, draw: (bound: number) => number): number[] {
  const pool = [...POOL];
  for (let i = 0; i < n; i++) {
    const j = i + draw(255 - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, n);
}

describeDatabases('reservations, what mutation testing left alive, on $name', ({ name: dbName, open }) => {
  let database: Database & { drop: () => Promise<void> };
  let ctx: Ctx;
  let bob: Ctx;
  /** Five registered relays r1..r5, online, enrolled, in service. */
  const ids: string[] = [];
  const license: License = { ...UNLICENSED, limits: { relays: 20, users: 10, protectedBytes: 1e12, maxFileSize: 1e9 } };

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    for (let i = 1; i <= 5; i++) {
      const id = randomUUID();
      ids.push(id);
      await registerTestRelay(database.db, { id, name: `r${i}`, url: `http://127.0.0.1:${9100 + i}` });
    }
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const mk = (email: string) => createUser(database.db, { email, displayName: email, password: 'password 123', role: 'user' }, 10);
    ctx = { db: database.db, user: await mk('mut-alice@x.test'), license, key, config };
    bob = { db: database.db, user: await mk('mut-bob@x.test'), license, key, config };
    await database.db.insert(federationRemotes).values({
      id: 'remote-mutants',
      url: 'https://mutants.test',
      name: 'M',
      deploymentId: DEPLOYMENT,
      fingerprint: 'f'.repeat(64),
      linkHandle: 'handle',
      linkToken: 'sealed',
      relays: [],
      status: 'ok',
      lastCheckedAt: new Date()
    });
  });
  afterAll(async () => {
    await database.drop();
  });

  const unique = (stem: string) => `${stem}-${randomUUID()}.txt`;
  const three = () => ids.slice(0, 3);
  const reserve = (over: Record<string, unknown>, as: Ctx = ctx) => reserveFile(as, { name: unique('f'), size: 10, type: 'text/plain', k: 2, relays: three(), ...over });
  const fileRow = async (id: string) => (await database.db.select().from(files).where(eq(files.id, id)))[0]!;
  const setRelays = (which: string[], values: Partial<typeof relays.$inferInsert>) => database.db.update(relays).set(values).where(inArray(relays.id, which));
  /** Every relay back online, enrolled, in service, with the same free space. */
  const resetRelays = () => setRelays(ids, { lastHeartbeat: new Date(), lifecycle: 'active', freeBytes: 1e12 });
  /** Two local groups of two relays each (r1 r2, r3 r4), any 2 in each, both needed; `extra` groups after them. */
  const tree = (extra: Array<Record<string, unknown>> = [], k = 2) => ({
    kind: 'tree',
    k,
    groups: [{ kind: 'local', k: 2, label: 'left', relays: [ids[0], ids[1]] }, { kind: 'local', k: 2, relays: [ids[2], ids[3]] }, ...extra]
  });
  const remoteGroup = { kind: 'remote', deployment: DEPLOYMENT, k: 2, n: 3, fileId: SUB_FILE };

  describe('x drawn per server', () => {
    it('draws each server an x by a partial Fisher–Yates over 1..255, one draw per server', async () => {
      for (const steer of [() => 0, (n: number) => n - 1, (n: number) => Math.floor(n / 2)]) {
        draws.steer = steer;
        draws.bounds = [];
        const r = await reserve({ relays: three() });
        expect(draws.bounds).toEqual([255, 254, 253]);
        const xs = fisherYates(3, steer);
        expect(r.placements.map((p) => [p.relayId, p.x])).toEqual(three().map((id, i) => [id, xs[i]]));
        const rows = await database.db.select().from(placements).where(eq(placements.fileId, r.fileId));
        expect(rows.map((p) => [p.relayId, p.x, p.groupX]).sort()).toEqual(
          three()
            .map((id, i) => [id, xs[i], null])
            .sort()
        );
      }
    });
  });

  describe('linked deployments', () => {
    it('reads the links only for a layout with a remote group, and answers the remote group in the tree', async () => {
      const logged = loggedDb(database.db, dbName);
      const seen = { ...ctx, db: logged.db };
      await reserve({}, seen);
      await reserveFiles(seen, { files: [{ name: unique('b'), size: 1, k: 2, relays: three() }] });
      expect(logged.statements.filter((s) => s.includes('"federation_remotes"'))).toEqual([]);

      draws.steer = () => 0;
      const r = await reserveFile(seen, { name: unique('remote'), size: 10, layout: tree([remoteGroup], 3) });
      expect(logged.statements.filter((s) => s.includes('"federation_remotes"'))).toHaveLength(1);
      // Group x's 1, 2, 3 (three groups), relay x's 1..4, all drawn from the start of the pool.
      expect(r.layout).toEqual({
        kind: 'tree',
        k: 3,
        groups: [
          { kind: 'local', x: 1, k: 2, label: 'left', relays: [ids[0], ids[1]].map((relayId, i) => ({ relayId, x: i + 1 })) },
          { kind: 'local', x: 2, k: 2, relays: [ids[2], ids[3]].map((relayId, i) => ({ relayId, x: i + 3 })) },
          { kind: 'remote', x: 3, deployment: DEPLOYMENT, k: 2, n: 3, fileId: SUB_FILE }
        ]
      });
      expect((await fileRow(r.fileId)).layout).toEqual(r.layout);

      // In a batch, one item with a remote group is enough for the links to be read for it.
      const batch = await reserveFiles(seen, {
        files: [
          { name: unique('plain'), size: 1, k: 2, relays: three() },
          { name: unique('remote'), size: 1, layout: tree([remoteGroup], 3) }
        ]
      });
      expect(batch.results.map((x) => x.ok)).toEqual([true, true]);
      expect(logged.statements.filter((s) => s.includes('"federation_remotes"'))).toHaveLength(2);
    });
  });

  describe('onConflict and mode', () => {
    it('refuses an onConflict or a mode it does not know, naming the valid ones', async () => {
      for (const onConflict of ['bogus', 'Fail', 7, null, '']) {
        expect(await refusal(reserve({ onConflict })), String(onConflict)).toBe('WRONG_VALUE: Wrong value supplied for field "onConflict". Valid values are fail, skip, keepBoth, replace.');
      }
      for (const mode of ['raid', 'Shamir', 1, null, '']) {
        expect(await refusal(reserve({ mode })), String(mode)).toBe('WRONG_VALUE: Wrong value supplied for field "mode". Valid values are shamir, compact.');
      }
    });

    it('stores and answers the mode asked for, Shamir when none is', async () => {
      const plain = await reserve({});
      expect(plain.mode).toBe('shamir');
      expect((await fileRow(plain.fileId)).mode).toBe('shamir');
      const shamir = await reserve({ mode: 'shamir' });
      expect(shamir.mode).toBe('shamir');
      const compact = await reserve({ mode: 'compact' });
      expect(compact.mode).toBe('compact');
      expect((await fileRow(compact.fileId)).mode).toBe('compact');
    });

    it('under each onConflict choice: fail and skip refuse a name in use, keepBoth takes the next free one, replace marks the file it replaces', async () => {
      const name = unique('taken');
      const first = await reserve({ name });
      for (const onConflict of ['fail', 'skip']) expect(await refusal(reserve({ name, onConflict }))).toBe('FILENAME_IN_USE: Filename is already in use.');
      const both = await reserve({ name, onConflict: 'keepBoth' });
      expect(both.name).toBe(name.replace(/\.txt$/, ' (2).txt'));
      expect((await fileRow(both.fileId)).replacesId).toBeNull();
      const replacing = await reserve({ name, onConflict: 'replace' });
      expect(replacing.name).toBe(name);
      expect((await fileRow(replacing.fileId)).replacesId).toBe(first.fileId);
    });

    it('never replaces a folder by a file: the name of a folder is in use under replace, and keepBoth goes around it', async () => {
      const name = `folder-${randomUUID()}`;
      await createFolder(ctx, { name });
      for (const onConflict of [undefined, 'fail', 'replace']) expect(await refusal(reserve({ name, onConflict }))).toBe('FILENAME_IN_USE: Filename is already in use.');
      expect((await reserve({ name, onConflict: 'keepBoth' })).name).toBe(`${name} (2)`);
    });
  });

  describe('the request checked', () => {
    it('refuses a size that is not a whole number of bytes from 0 up, whatever compares below the limit', async () => {
      for (const size of ['10', '0', 1.5, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, null, true]) {
        expect(await refusal(reserve({ size })), String(size)).toBe('FILE_TOO_BIG: File too big, empty or wrong field.');
      }
    });

    it('stores the type given, and refuses one too long naming the field', async () => {
      const r = await reserve({ type: 'image/png' });
      expect((await fileRow(r.fileId)).type).toBe('image/png');
      expect(await refusal(reserve({ type: 'x'.repeat(256) }))).toBe('WRONG_VALUE: Wrong value supplied for field "type". Valid values are 1..255 printable characters.');
      const empty = await reserve({ type: '' });
      expect((await fileRow(empty.fileId)).type).toBe('application/octet-stream');
    });

    it('refuses a threshold that is not an integer number, even one that compares like one', async () => {
      for (const k of ['2', 2.5, null, undefined, [2]]) {
        expect(await refusal(reserve({ k })), String(k)).toBe('WRONG_VALUE: Wrong value supplied for field "k". Valid values are integers 2..255.');
      }
    });

    it('takes new shares only on relays in service, whether chosen by the request or by default', async () => {
      try {
        await setRelays([ids[2]!], { lifecycle: 'draining' });
        expect(await refusal(reserve({ relays: [ids[0], ids[2]] }))).toBe('WRONG_VALUE: Wrong value supplied for field "relays". Valid values are ids of storage servers in service.');
        await setRelays([ids[3]!, ids[4]!], { lastHeartbeat: new Date(Date.now() - 7_200_000) });
        expect((await reserve({ relays: undefined })).placements.map((p) => p.relayId).sort()).toEqual([ids[0], ids[1]].sort());
      } finally {
        await resetRelays();
      }
    });

    it('names every chosen relay that is offline, separated by commas, and counts those reachable', async () => {
      try {
        await setRelays([ids[1]!, ids[2]!], { lastHeartbeat: new Date(Date.now() - 7_200_000) });
        expect(await refusal(reserve({ relays: three() }))).toBe(
          'RELAYS_OFFLINE: Some storage servers necessary for the operation are not connected: r2, r3. All 3 chosen servers are needed and 1 is reachable.'
        );
      } finally {
        await resetRelays();
      }
    });
  });

  describe('layouts', () => {
    it('refuses a layout with relays, a k other than its own, and compact mode, each in its own words', async () => {
      const base = { name: unique('tree'), size: 10 };
      expect(await refusal(reserveFile(ctx, { ...base, layout: tree(), relays: three() }))).toBe('LAYOUT_INVALID: Give either "layout" or "relays", not both.');
      const wrongK = 'LAYOUT_INVALID: "k" must be absent or equal to the layout\'s number of groups needed.';
      expect(await refusal(reserveFile(ctx, { ...base, layout: tree(), k: 3 }))).toBe(wrongK);
      expect(await refusal(reserveFile(ctx, { ...base, layout: tree(), k: '2' }))).toBe(wrongK);
      // A layout that is not an object has no k of its own: any k is then not its k.
      for (const layout of [null, 2, 'tree']) expect(await refusal(reserveFile(ctx, { ...base, layout, k: 2 })), String(layout)).toBe(wrongK);
      expect(await refusal(reserveFile(ctx, { ...base, layout: null }))).toBe('LAYOUT_INVALID: "layout" expected { kind: "tree", k, groups }.');
      expect(await refusal(reserveFile(ctx, { ...base, layout: tree(), mode: 'compact' }))).toBe(
        'LAYOUT_NOT_SUPPORTED: Compact mode cannot be combined with a multi-level layout yet; choose Shamir or plain k of n.'
      );
    });

    it('reserves a tree with k absent or equal to its own and Shamir asked for, answering each relay its group x, and no group x for a flat file', async () => {
      draws.steer = () => 0;
      for (const over of [{}, { k: 2 }, { mode: 'shamir' }]) {
        const r = await reserveFile(ctx, { name: unique('tree'), size: 10, layout: tree(), ...over });
        expect(r).toMatchObject({ k: 2, n: 4, mode: 'shamir', epoch: 0 });
        expect(r.placements.map(({ relayId, x, groupX }) => ({ relayId, x, groupX }))).toEqual(ids.slice(0, 4).map((relayId, i) => ({ relayId, x: i + 1, groupX: i < 2 ? 1 : 2 })));
        expect(r.layout?.groups.map((g) => g.x)).toEqual([1, 2]);
        const rows = await database.db.select().from(placements).where(eq(placements.fileId, r.fileId));
        expect(rows.map((p) => [p.relayId, p.x, p.groupX]).sort()).toEqual(
          ids
            .slice(0, 4)
            .map((id, i) => [id, i + 1, i < 2 ? 1 : 2])
            .sort()
        );
        expect((await fileRow(r.fileId)).layout).toEqual(r.layout);
      }
      const flat = await reserve({});
      expect('layout' in flat).toBe(false);
      for (const p of flat.placements) expect(Object.keys(p).sort()).toEqual(['name', 'relayId', 'token', 'url', 'x']);
      expect((await fileRow(flat.fileId)).layout).toBeNull();
    });
  });

  describe('names per folder', () => {
    it('keeps names apart per folder, and refuses a folder in the trash or of another user', async () => {
      const a = await createFolder(ctx, { name: `a-${randomUUID()}` });
      const b = await createFolder(ctx, { name: `b-${randomUUID()}` });
      const name = unique('same');
      const inA = await reserve({ name, folderId: a.id });
      expect((await fileRow(inA.fileId)).folderId).toBe(a.id);
      const inB = await reserve({ name, folderId: b.id });
      expect((await fileRow(inB.fileId)).folderId).toBe(b.id);
      const atRoot = await reserve({ name });
      expect((await fileRow(atRoot.fileId)).folderId).toBeNull();
      expect(await refusal(reserve({ name, folderId: a.id }))).toBe('FILENAME_IN_USE: Filename is already in use.');

      const theirs = await createFolder(bob, { name: `bob-${randomUUID()}` });
      expect(await refusal(reserve({ folderId: theirs.id }))).toBe('NOT_FOUND: Folder not found.');
      await database.db.update(folders).set({ trashedAt: new Date() }).where(eq(folders.id, b.id));
      expect(await refusal(reserve({ folderId: b.id }))).toBe('NOT_FOUND: Folder not found.');
      const batch = await reserveFiles(ctx, { files: [{ name: unique('x'), size: 1, k: 2, relays: three(), folderId: b.id }] });
      expect(batch.results).toEqual([{ ok: false, error: { code: 'NOT_FOUND', message: 'Folder not found.' } }]);
    });

    it('a batch at the root and in folders alike: each item in its own place', async () => {
      const a = await createFolder(ctx, { name: `c-${randomUUID()}` });
      const batch = await reserveFiles(ctx, {
        files: [
          { name: unique('root'), size: 1, k: 2, relays: three() },
          { name: unique('in-a'), size: 1, k: 2, relays: three(), folderId: a.id }
        ]
      });
      const made = batch.results.map((x) => (x.ok ? x.reservation.fileId : x.error.code));
      expect((await fileRow(made[0]!)).folderId).toBeNull();
      expect((await fileRow(made[1]!)).folderId).toBe(a.id);
    });

    it('keeps both for several items of one batch taking the same name, at the root and in a folder: each the next free name', async () => {
      const a = await createFolder(ctx, { name: `d-${randomUUID()}` });
      for (const folderId of [undefined, a.id]) {
        const stem = `many-${randomUUID()}`;
        await reserve({ name: `${stem}.bin`, folderId });
        const item = { name: `${stem}.bin`, size: 1, k: 2, relays: three(), folderId, onConflict: 'keepBoth' };
        const batch = await reserveFiles(ctx, { files: [item, item, item] });
        expect(batch.results.map((x) => (x.ok ? x.reservation.name : x.error.code))).toEqual([2, 3, 4].map((n) => `${stem} (${n}).bin`));
      }
    });

    it('refuses an item whose name an earlier item of the batch took, even under replace', async () => {
      const name = unique('twice');
      const batch = await reserveFiles(ctx, {
        files: ['fail', 'replace'].map((onConflict) => ({ name, size: 1, k: 2, relays: three(), onConflict }))
      });
      expect(batch.results.map((x) => (x.ok ? 'ok' : `${x.error.code}: ${x.error.message}`))).toEqual(['ok', 'FILENAME_IN_USE: Filename is already in use.']);
    });
  });

  describe('quota and batches', () => {
    it('takes the quota lock before counting, and warns with what is held and the limit when refusing', async () => {
      const logged = loggedDb(database.db, dbName);
      await reserve({}, { ...ctx, db: logged.db });
      const at = logged.statements.indexOf(LOCK);
      expect(at).toBeGreaterThanOrEqual(0);
      expect(logged.statements.slice(at + 1).some((s) => s.includes('sum('))).toBe(true);

      const used = await heldBytes(database.db);
      const tight: Ctx = { ...ctx, license: { ...license, limits: { ...license.limits, protectedBytes: used + 5 } } };
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      expect(await refusal(reserve({ size: 6 }, tight))).toBe('STORAGE_FULL: Storage limit reached: the licence allows no more protected bytes.');
      expect(warn.mock.calls).toEqual([[`kofn: licence storage limit reached (${used} of ${used + 5} bytes); reservation refused.`]]);
    });

    it('inserts a batch of 400 in slices, every item with its placements', async () => {
      const stem = `slice-${randomUUID()}`;
      const batch = await reserveFiles(ctx, { files: Array.from({ length: 400 }, (_, i) => ({ name: `${stem}-${i}`, size: 1, k: 2, relays: [ids[0], ids[1]] })) });
      const made = batch.results.map((x) => (x.ok ? x.reservation : undefined)).filter((x): x is Reservation => x !== undefined);
      expect(made).toHaveLength(400);
      expect(made.every((r) => r.epoch === 0)).toBe(true);
      const rows = await database.db
        .select()
        .from(placements)
        .where(
          inArray(
            placements.fileId,
            made.map((r) => r.fileId)
          )
        );
      expect(rows).toHaveLength(800);
    });
  });

  describe('the sweep', () => {
    it('marks deleting the reservations older than the limit, strictly, with a job each, and answers their ids', async () => {
      const t0 = new Date('2001-02-03T04:05:06Z');
      const r = await reserveFile(ctx, { name: unique('old'), size: 10, k: 2, relays: three() }, t0);
      expect(await sweepReservations(database.db, 60_000, new Date(t0.getTime() + 60_000))).toEqual([]);
      expect((await fileRow(r.fileId)).status).toBe('reserved');
      expect(await sweepReservations(database.db, 60_000, new Date(t0.getTime() + 60_001))).toEqual([r.fileId]);
      expect((await fileRow(r.fileId)).status).toBe('deleting');
      const [job] = await database.db.select().from(jobs).where(eq(jobs.key, r.fileId));
      expect(job).toMatchObject({ kind: 'delete-file', payload: { fileId: r.fileId } });
    });
  });

  describe('replacing a relay of an upload', () => {
    const put = (token: string) => decodeJwt(token);

    it('moves the placement to the spare with most free space, keeping x, with a put token for it, and a job for the old relay', async () => {
      try {
        // Either spare first in the table, and the one with less free space written first (a row updated
        // last is read last by a scan): the one with more free space is taken, not the first read.
        for (const [more, less] of [
          [ids[3]!, ids[4]!],
          [ids[4]!, ids[3]!]
        ] as const) {
          await setRelays([less], { freeBytes: 1e12 });
          await setRelays([more], { freeBytes: 2e12 });
          const r = await reserve({});
          const x = r.placements.find((p) => p.relayId === ids[0])!.x;
          const out = await replaceRelay(ctx, r.fileId, { relayId: ids[0] });
          const spare = (await database.db.select().from(relays).where(eq(relays.id, more)))[0]!;
          expect(out).toEqual({ replaced: ids[0], placement: { relayId: more, name: spare.name, url: spare.url, x, token: expect.any(String) as string } });
          expect(put(out.placement.token)).toMatchObject({ fid: r.fileId, op: 'put', aud: more });
          const rows = await database.db.select().from(placements).where(eq(placements.fileId, r.fileId));
          expect(rows.map((p) => [p.relayId, p.x]).sort()).toEqual(r.placements.map((p) => [p.relayId === ids[0] ? more : p.relayId, p.x]).sort());
          const [job] = await database.db
            .select()
            .from(jobs)
            .where(eq(jobs.key, `${r.fileId}:${ids[0]}`));
          expect(job).toMatchObject({ kind: 'delete-file-on-relay', payload: { fileId: r.fileId, relayId: ids[0] } });
        }
      } finally {
        await resetRelays();
      }
    });

    it('takes no spare that is draining, offline, already used or excluded, and names the relay it could not replace', async () => {
      const none = 'RELAYS_OFFLINE: Some storage servers necessary for the operation are not connected. No other storage server can replace r1.';
      try {
        const r = await reserve({});
        await setRelays([ids[3]!], { lifecycle: 'draining' });
        await setRelays([ids[4]!], { lastHeartbeat: new Date(Date.now() - 7_200_000) });
        expect(await refusal(replaceRelay(ctx, r.fileId, { relayId: ids[0] }))).toBe(none);
        await resetRelays();
        expect(await refusal(replaceRelay(ctx, r.fileId, { relayId: ids[0], exclude: [ids[3], ids[4]] }))).toBe(none);
        // Non-strings in `exclude` are dropped before it is cut to 255 entries.
        expect(await refusal(replaceRelay(ctx, r.fileId, { relayId: ids[0], exclude: [...POOL, 0, ids[3], ids[4]] }))).toBe(none);
        const rows = await database.db.select().from(placements).where(eq(placements.fileId, r.fileId));
        expect(rows.map((p) => p.relayId).sort()).toEqual(three().sort());
      } finally {
        await resetRelays();
      }
    });

    it('reads at most 255 ids of `exclude`', async () => {
      const r = await reserve({});
      const filler = Array.from({ length: 255 }, () => randomUUID());
      const out = await replaceRelay(ctx, r.fileId, { relayId: ids[0], exclude: [...filler, ids[3], ids[4]] });
      expect([ids[3], ids[4]]).toContain(out.placement.relayId);
    });

    it('refuses another user\u2019s upload even shared with them, and a relay the file does not use', async () => {
      const r = await reserve({});
      await database.db.insert(grants).values({ fileId: r.fileId, userId: bob.user.id });
      expect(await refusal(replaceRelay(bob, r.fileId, { relayId: ids[0] }))).toBe('NOT_FOUND: File not found on the servers.');
      expect(await refusal(replaceRelay(ctx, r.fileId, { relayId: ids[3] }))).toBe('WRONG_VALUE: Wrong value supplied for field "relayId". Valid values are a storage server of this file.');
    });

    it('takes a tree file\u2019s spare from the failed relay\u2019s group label, in its place and x in the tree, and names the group when there is none', async () => {
      try {
        draws.steer = () => 0;
        const t = await reserveFile(ctx, { name: unique('tree'), size: 10, layout: tree() });
        draws.steer = undefined;
        // r1 r2 in "left", r3 r4 in "right", the spare r5 without a group.
        await setRelays([ids[0]!, ids[1]!], { groupLabel: 'left' });
        await setRelays([ids[2]!, ids[3]!], { groupLabel: 'right' });
        expect(await refusal(replaceRelay(ctx, t.fileId, { relayId: ids[0] }))).toBe(
          'RELAYS_OFFLINE: Some storage servers necessary for the operation are not connected. No other storage server in the group "left" can replace r1.'
        );
        await setRelays([ids[0]!, ids[1]!], { groupLabel: null });
        await setRelays([ids[4]!], { groupLabel: 'right' });
        expect(await refusal(replaceRelay(ctx, t.fileId, { relayId: ids[0] }))).toBe(
          'RELAYS_OFFLINE: Some storage servers necessary for the operation are not connected. No other storage server in the group of servers without a group can replace r1.'
        );
        // A flat file takes any spare, whatever its group (both spares here are in "right", r1 in none).
        const flat = await reserve({ relays: [ids[0], ids[1], ids[3]] });
        expect([ids[2], ids[4]]).toContain((await replaceRelay(ctx, flat.fileId, { relayId: ids[0] })).placement.relayId);
        const old = t.placements.find((p) => p.relayId === ids[2])!;
        const logged = loggedDb(database.db, dbName);
        const out = await replaceRelay({ ...ctx, db: logged.db }, t.fileId, { relayId: ids[2] });
        // The manifest tree is read under the file's row lock, so two replacements in one tree never lose one another's move.
        expect(logged.statements.filter((q) => q.startsWith('select "layout" from "files"') && q.endsWith(' for update'))).toHaveLength(1);
        expect(out).toEqual({
          replaced: ids[2],
          placement: { relayId: ids[4], name: 'r5', url: 'http://127.0.0.1:9105', x: old.x, groupX: old.groupX, token: expect.any(String) as string }
        });
        const layout = (await fileRow(t.fileId)).layout;
        expect(layout).toEqual({
          ...t.layout,
          groups: t.layout!.groups.map((g) => (g.kind === 'local' ? { ...g, relays: g.relays.map((r) => (r.relayId === ids[2] ? { ...r, relayId: ids[4] } : r)) } : g))
        });
        const flatOut = await replaceRelay(ctx, flat.fileId, { relayId: ids[1] });
        expect('groupX' in flatOut.placement).toBe(false);
        expect((await fileRow(flat.fileId)).layout).toBeNull();
      } finally {
        await setRelays(ids, { groupLabel: null });
      }
    });

    it('answers CONFLICT to a replacement that finds the relay already replaced', async () => {
      const r = await reserve({});
      // The second request read the file's placements, then the first moved the relay before its own update.
      const late: Db = new Proxy(database.db, {
        get(target, prop, receiver) {
          if (prop !== 'transaction') return Reflect.get(target, prop, receiver) as unknown;
          return async (...args: Parameters<Db['transaction']>) => {
            await replaceRelay(ctx, r.fileId, { relayId: ids[0] });
            return target.transaction(...args);
          };
        }
      });
      expect(await refusal(replaceRelay({ ...ctx, db: late }, r.fileId, { relayId: ids[0] }))).toBe('CONFLICT: This storage server was already replaced.');
      const rows = await database.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.kind, 'delete-file-on-relay'), eq(jobs.key, `${r.fileId}:${ids[0]}`)));
      expect(rows).toHaveLength(1);
    });
  });
});

describeDatabases('a reservation over the most servers a file may have, on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let ctx: Ctx;
  const ids: string[] = [];

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    for (let i = 0; i < 256; i++) {
      const id = randomUUID();
      ids.push(id);
      await registerTestRelay(database.db, { id, name: `m${i}`, url: `http://127.0.0.1:${10_000 + i}` });
    }
    const user = await createUser(database.db, { email: 'max@x.test', displayName: 'Max', password: 'password 123', role: 'user' }, 10);
    const license: License = { ...UNLICENSED, limits: { relays: 300, users: 10, protectedBytes: 1e12, maxFileSize: 1e9 } };
    ctx = { db: database.db, user, license, key, config: loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' }) };
  }, 120_000);
  afterAll(async () => {
    await database.drop();
  });

  it('takes 255 servers, each x of 1..255 once, and refuses 256', async () => {
    const r = await reserveFile(ctx, { name: 'max.bin', size: 10, k: 255, relays: ids.slice(0, 255) });
    expect(r.n).toBe(255);
    expect(r.placements.map((p) => p.x).sort((a, b) => a - b)).toEqual(POOL);
    expect(await refusal(reserveFile(ctx, { name: 'over.bin', size: 10, k: 2, relays: ids }))).toBe(
      'WRONG_VALUE: Wrong value supplied for field "relays". Valid values are at most 255 storage servers.'
    );
  });
});
