/**
 * Files (files.ts) at the edges mutation testing looks at (issue #24): a commit's three refusals in their own
 * words and at the exact bounds of a chunk's size, the roots and history it stores, a commit that a sweep
 * overtakes, a replacing commit, batch commits (each item's refusal, listings and roots over 1,000
 * placements); the listing's dates and renewal and expiry at their exact limits, which files it shows and in
 * what order, relays by name; files shared with me; a manifest's names, tokens and tree; removal; and the
 * retrieval report's history line. The relays are loopback HTTP servers registered as relays that list
 * whatever a test gives them (a commit only asks relays for their listings), so no share is uploaded.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, desc, eq, inArray } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { digestRoot, shareChunkBoundsFor, type ChunkListing, type Reservation } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import type { Database, Db } from './db/index.js';
import { files, grants, history, jobs, placements, relays, shareHealth } from './db/schema.js';
import { createUser } from './auth.js';
import { loadConfig } from './config.js';
import { ensureSigningKey } from './signing-keys.js';
import { UNLICENSED, type License } from './license.js';
import { commitFile, commitFiles, fileViews, listFiles, manifest, readManifest, removeFile, reportRetrieval, sharedWithMe } from './files.js';
import { reserveFile, reserveFiles } from './reservations.js';
import { listHistory } from './history.js';
import type { Ctx } from './file-access.js';
import { registerTestRelay } from './testing/relays.js';
import { loggedDb } from './testing/logged-db.js';
import { LoopbackServer } from './testing/loopback-server.js';

/** A relay that lists, for each file, the chunks a test set; the batch route too (tokens name the files). */
class ListingRelay extends LoopbackServer {
  readonly id = randomUUID();
  readonly listings = new Map<string, ChunkListing[]>();
  constructor(readonly name: string) {
    super();
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const json = (body: unknown) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method === 'POST' && req.url === '/v1/files/lists') {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const { tokens } = JSON.parse(Buffer.concat(parts).toString('utf8')) as { tokens: string[] };
        json({ files: tokens.map((t) => decodeJwt(t).fid as string).map((fileId) => ({ fileId, chunks: this.listings.get(fileId) ?? [] })) });
      });
      return;
    }
    const m = /^\/v1\/files\/([0-9a-f]{32})\/chunks$/.exec(req.url ?? '');
    if (req.method !== 'GET' || !m) return void res.writeHead(404).end();
    json({ fileId: m[1], chunks: this.listings.get(m[1]!) ?? [] });
  }
}

const refusal = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (err: unknown) => `${(err as { code?: string }).code}: ${(err as Error).message}`
  );

const digest = () => createHash('sha256').update(randomBytes(16)).digest('hex');
const DAY = 86_400_000;

describeDatabases('files at their edges on $name', ({ name: dbName, open }) => {
  let database: Database & { drop: () => Promise<void> };
  let alice: Ctx;
  let bob: Ctx;
  const fakes = [new ListingRelay('f-b'), new ListingRelay('f-a'), new ListingRelay('f-d'), new ListingRelay('f-c')];
  const license: License = { ...UNLICENSED, limits: { relays: 20, users: 50, protectedBytes: 1e12, maxFileSize: 1e9 } };
  const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    for (const f of fakes) {
      await f.start();
      await registerTestRelay(database.db, { id: f.id, name: f.name, url: f.url });
    }
    const mk = (email: string) => createUser(database.db, { email, displayName: `Name of ${email}`, password: 'password 123', role: 'user' }, 50);
    alice = { db: database.db, user: await mk('files-alice@x.test'), license, key, config };
    bob = { db: database.db, user: await mk('files-bob@x.test'), license, key, config };
  });
  afterAll(async () => {
    await Promise.all(fakes.map((f) => f.stop()));
    await database.drop();
  });

  /** A user of one's own, so a listing holds only what the test made. */
  const someone = async (): Promise<Ctx> => ({ ...alice, user: await createUser(database.db, { email: `u-${randomUUID()}@x.test`, displayName: 'U', password: 'password 123', role: 'user' }, 50) });
  const two = () => [fakes[0]!.id, fakes[1]!.id];
  const reserve = (ctx: Ctx, over: Record<string, unknown> = {}, now?: Date) => reserveFile(ctx, { name: `f-${randomUUID()}.bin`, size: 10, type: 'text/plain', k: 2, relays: two(), ...over }, now);
  const fileRow = async (id: string) => (await database.db.select().from(files).where(eq(files.id, id)))[0]!;
  const fake = (relayId: string) => fakes.find((f) => f.id === relayId)!;

  /**
   * Each relay of `r` lists every chunk of it at its smallest (`min`) or largest (`max`) share size, with
   * made-up digests; answers the roots a browser would send. `edit` changes one relay's listing first.
   */
  async function stock(r: Reservation, size = 10, at: 'min' | 'max' = 'min', mode: 'shamir' | 'compact' = 'shamir'): Promise<Record<string, string>> {
    const roots: Record<string, string> = {};
    for (const p of r.placements) {
      const listing = Array.from({ length: r.chunkCount + 1 }, (_, index) => ({ index, size: shareChunkBoundsFor(mode, size, r.chunkSize, index, r.k)[at], digest: digest() }));
      fake(p.relayId).listings.set(r.fileId, listing);
      roots[p.relayId] = await digestRoot(listing.map((c) => c.digest));
    }
    return roots;
  }

  /** The database as a commit sees it when the sweep marks `fileId` deleting after the relays were asked. */
  const sweptBefore = (fileId: string): Db =>
    new Proxy(database.db, {
      get(target, prop, receiver) {
        if (prop !== 'transaction') return Reflect.get(target, prop, receiver) as unknown;
        return async (...args: Parameters<Db['transaction']>) => {
          await target.update(files).set({ status: 'deleting' }).where(eq(files.id, fileId));
          return target.transaction(...args);
        };
      }
    });

  describe('commit', () => {
    it('commits when every relay lists every chunk at exactly the smallest or the largest size, storing each root and the history', async () => {
      const ctx = await someone();
      for (const at of ['min', 'max'] as const) {
        const r = await reserve(ctx, { size: 3 * 1024 * 1024 + 7 });
        const roots = await stock(r, 3 * 1024 * 1024 + 7, at);
        const now = new Date('2030-05-06T07:08:09Z');
        expect(await commitFile(ctx, r.fileId, { roots }, now)).toEqual({ fileId: r.fileId, status: 'available' });
        expect(await fileRow(r.fileId)).toMatchObject({ status: 'available', committedAt: now, replacesId: null });
        const rows = await database.db.select().from(placements).where(eq(placements.fileId, r.fileId));
        expect(Object.fromEntries(rows.map((p) => [p.relayId, p.digestRoot]))).toEqual(roots);
        expect((await listHistory(database.db, ctx.user.id))[0]).toMatchObject({ operation: 'protect', fileId: r.fileId, fileName: r.name, result: 'ok', detail: '2 of 2' });
      }
    });

    it('refuses, naming the relay, a listing missing a chunk, with one twice or out of order, a size one byte off, and other chunks', async () => {
      const r = await reserve(alice, { size: 10 });
      const roots = await stock(r);
      const relay = fake(r.placements[0]!.relayId);
      const good = relay.listings.get(r.fileId)!;
      const every = `COMMIT_MISMATCH: Storage server ${relay.name} does not hold every chunk of this file.`;
      const sizes = `COMMIT_MISMATCH: Storage server ${relay.name} holds chunks of other sizes than this file's.`;
      const bounds = (index: number) => shareChunkBoundsFor('shamir', 10, r.chunkSize, index, 2);
      const cases: Array<[ChunkListing[], string]> = [
        [good.slice(0, 1), every],
        [[good[0]!, { ...good[0]!, digest: digest() }], every],
        [[good[1]!, good[0]!], every],
        [[good[0]!, { ...good[1]!, index: 2 }], every],
        [[{ ...good[0]!, size: bounds(0).min - 1 }, good[1]!], sizes],
        [[good[0]!, { ...good[1]!, size: bounds(1).max + 1 }], sizes],
        [[good[0]!, { ...good[1]!, digest: digest() }], `COMMIT_MISMATCH: Storage server ${relay.name} holds different chunks than were uploaded.`]
      ];
      for (const [listing, words] of cases) {
        relay.listings.set(r.fileId, listing);
        expect(await refusal(commitFile(alice, r.fileId, { roots })), JSON.stringify(listing)).toBe(words);
      }
      relay.listings.set(r.fileId, good);
      expect(await refusal(commitFile(alice, r.fileId, {}))).toMatch(/^COMMIT_MISMATCH: Storage server f-[a-d] holds different chunks than were uploaded\.$/);
      for (const bad of ['x', 7, [roots]]) expect(await refusal(commitFile(alice, r.fileId, { roots: bad }))).toBe('BAD_REQUEST: Expected a JSON object.');
      expect((await fileRow(r.fileId)).status).toBe('reserved');
      expect(await commitFile(alice, r.fileId, { roots })).toEqual({ fileId: r.fileId, status: 'available' });
      expect(await refusal(commitFile(alice, r.fileId, { roots }))).toBe('NOT_FOUND: File not found on the servers.');
    });

    it('answers NOT_FOUND when the sweep took the reservation while its relays were asked, and commits nothing', async () => {
      const r = await reserve(alice);
      const roots = await stock(r);
      expect(await refusal(commitFile({ ...alice, db: sweptBefore(r.fileId) }, r.fileId, { roots }))).toBe('NOT_FOUND: File not found on the servers.');
      expect((await fileRow(r.fileId)).status).toBe('deleting');
      const rows = await database.db.select().from(placements).where(eq(placements.fileId, r.fileId));
      expect(rows.map((p) => p.digestRoot)).toEqual([null, null]);
      expect((await listHistory(database.db, alice.user.id)).some((h) => h.fileId === r.fileId)).toBe(false);
    });

    it('a file that replaces another trashes it as it commits, and takes its name', async () => {
      const ctx = await someone();
      const name = `same-${randomUUID()}.bin`;
      const first = await reserve(ctx, { name });
      await commitFile(ctx, first.fileId, { roots: await stock(first) });
      const second = await reserve(ctx, { name, onConflict: 'replace' });
      const now = new Date('2031-01-01T00:00:00Z');
      expect(await commitFile(ctx, second.fileId, { roots: await stock(second) }, now)).toEqual({ fileId: second.fileId, status: 'available' });
      expect(await fileRow(first.fileId)).toMatchObject({ trashedAt: now });
      expect(await fileRow(second.fileId)).toMatchObject({ status: 'available', committedAt: now, replacesId: null, name });
      expect((await listFiles(ctx)).map((f) => f.id)).toEqual([second.fileId]);
      const rows = await database.db.select().from(placements).where(eq(placements.fileId, second.fileId));
      expect(rows.every((p) => p.digestRoot !== null)).toBe(true);
      expect((await listHistory(database.db, ctx.user.id)).filter((h) => h.operation === 'protect').map((h) => h.fileId)).toEqual([second.fileId, first.fileId]);
    });

    it('a file that replaces another, overtaken by the sweep, is not committed and answers NOT_FOUND', async () => {
      const ctx = await someone();
      const name = `swept-${randomUUID()}.bin`;
      const first = await reserve(ctx, { name });
      await commitFile(ctx, first.fileId, { roots: await stock(first) });
      const second = await reserve(ctx, { name, onConflict: 'replace' });
      const roots = await stock(second);
      expect(await refusal(commitFile({ ...ctx, db: sweptBefore(second.fileId) }, second.fileId, { roots }))).toBe('NOT_FOUND: File not found on the servers.');
      expect((await fileRow(second.fileId)).status).toBe('deleting');
      // The file it was to replace stays, listed and out of the trash (it was trashed before the check).
      expect((await fileRow(first.fileId)).trashedAt).toBeNull();
      expect((await listFiles(ctx)).map((f) => f.id)).toContain(first.fileId);
      expect((await listHistory(database.db, ctx.user.id)).map((h) => h.fileId)).toEqual([first.fileId]);
      const batch = await reserve(ctx, { name, onConflict: 'replace' });
      const out = await commitFiles({ ...ctx, db: sweptBefore(batch.fileId) }, { files: [{ fileId: batch.fileId, roots: await stock(batch) }] });
      expect(out.results).toEqual([{ ok: false, error: { code: 'NOT_FOUND', message: 'File not found on the servers.' } }]);
      expect((await fileRow(first.fileId)).trashedAt).toBeNull();
    });

    it('commits the files of a batch that replace nothing in one statement, whatever their number', async () => {
      const ctx = await someone();
      const logged = loggedDb(database.db, dbName);
      const made = [];
      for (let i = 0; i < 3; i++) made.push(await reserve(ctx));
      const items = [];
      for (const r of made) items.push({ fileId: r.fileId, roots: await stock(r) });
      const out = await commitFiles({ ...ctx, db: logged.db }, { files: items });
      expect(out.results.every((x) => x.ok)).toBe(true);
      expect(logged.statements.filter((q) => q.startsWith('update "files"'))).toHaveLength(1);
    });

    it('records a tree file in the history by its groups and servers', async () => {
      const ctx = await someone();
      const layout = {
        kind: 'tree',
        k: 2,
        groups: [
          { kind: 'local', k: 2, relays: [fakes[0]!.id, fakes[1]!.id] },
          { kind: 'local', k: 2, relays: [fakes[2]!.id, fakes[3]!.id] }
        ]
      };
      const r = await reserveFile(ctx, { name: 'tree.bin', size: 10, layout });
      await commitFile(ctx, r.fileId, { roots: await stock(r) });
      expect((await listHistory(database.db, ctx.user.id))[0]).toMatchObject({ operation: 'protect', detail: '2 of 2 groups, 4 storage servers' });
    });
  });

  describe('batch commit', () => {
    it('answers each item: committed, not found, twice in the batch, a bad id or roots, a mismatch; and commits the good ones only', async () => {
      const ctx = await someone();
      const good = await reserve(ctx);
      const goodRoots = await stock(good);
      const wrong = await reserve(ctx);
      await stock(wrong);
      const badRoots = await reserve(ctx);
      const theirs = await reserve(bob);
      const theirRoots = await stock(theirs);
      const now = new Date('2032-02-02T02:02:02Z');
      const out = await commitFiles(
        ctx,
        {
          files: [
            { fileId: good.fileId, roots: goodRoots },
            { fileId: good.fileId, roots: goodRoots },
            { fileId: 'nope', roots: {} },
            { fileId: badRoots.fileId, roots: 'x' },
            { fileId: theirs.fileId, roots: theirRoots },
            { fileId: wrong.fileId }
          ]
        },
        now
      );
      const relayOf = fake(wrong.placements[0]!.relayId).name;
      expect(out.results).toEqual([
        { ok: true, commit: { fileId: good.fileId, status: 'available' } },
        { ok: false, error: { code: 'WRONG_VALUE', message: 'Wrong value supplied for field "fileId". Valid values are each file once per batch.' } },
        { ok: false, error: { code: 'NOT_FOUND', message: 'File not found on the servers.' } },
        { ok: false, error: { code: 'BAD_REQUEST', message: 'Expected a JSON object.' } },
        { ok: false, error: { code: 'NOT_FOUND', message: 'File not found on the servers.' } },
        { ok: false, error: { code: 'COMMIT_MISMATCH', message: `Storage server ${relayOf} holds different chunks than were uploaded.` } }
      ]);
      expect(await fileRow(good.fileId)).toMatchObject({ status: 'available', committedAt: now });
      expect((await fileRow(wrong.fileId)).status).toBe('reserved');
      expect((await fileRow(theirs.fileId)).status).toBe('reserved');
      const rows = await database.db
        .select()
        .from(placements)
        .where(inArray(placements.fileId, [good.fileId, wrong.fileId]));
      expect(Object.fromEntries(rows.map((p) => [`${p.fileId} ${p.relayId}`, p.digestRoot]))).toEqual(
        Object.fromEntries([...Object.entries(goodRoots).map(([relayId, root]) => [`${good.fileId} ${relayId}`, root]), ...wrong.placements.map((p) => [`${wrong.fileId} ${p.relayId}`, null])])
      );
      expect((await listHistory(database.db, ctx.user.id)).map((h) => [h.operation, h.fileId, h.detail])).toEqual([['protect', good.fileId, '2 of 2']]);
    });

    it('answers every item of a batch that names no file of its own without asking anyone', async () => {
      const id = randomUUID().replaceAll('-', '');
      const out = await commitFiles(alice, { files: [{ fileId: 'x' }, { fileId: id }, { fileId: id }] });
      expect(out.results.map((x) => (x.ok ? 'ok' : x.error.code))).toEqual(['NOT_FOUND', 'NOT_FOUND', 'WRONG_VALUE']);
    });

    it('commits a batch whose roots span two slices (500 files on 2 relays), each root where it belongs', async () => {
      const ctx = await someone();
      const batch = await reserveFiles(ctx, { files: Array.from({ length: 500 }, (_, i) => ({ name: `s-${i}.bin`, size: 10, k: 2, relays: two() })) });
      const made = batch.results.map((x) => (x.ok ? x.reservation : undefined)).filter((x): x is Reservation => x !== undefined);
      expect(made).toHaveLength(500);
      const items = [];
      for (const r of made) items.push({ fileId: r.fileId, roots: await stock(r) });
      const out = await commitFiles(ctx, { files: items });
      expect(out.results.every((x) => x.ok)).toBe(true);
      const rows = await database.db
        .select()
        .from(placements)
        .where(
          inArray(
            placements.fileId,
            made.map((r) => r.fileId)
          )
        );
      const want = new Map(items.flatMap((it) => Object.entries(it.roots).map(([relayId, root]) => [`${it.fileId} ${relayId}`, root])));
      expect(rows.filter((p) => p.digestRoot === want.get(`${p.fileId} ${p.relayId}`))).toHaveLength(1000);
    });
  });

  describe('listings', () => {
    it('shows dates, the next renewal, and renewal due and expiry strictly past their limits, from the last renewal or commit or creation', async () => {
      const ctx = await someone();
      const t0 = new Date('2020-01-01T00:00:00Z');
      const t1 = new Date('2020-01-02T00:00:00Z');
      const r = await reserve(ctx, {}, t0);
      const one = async (now: Date) => (await listFiles(ctx, now))[0]!;
      // Reserved: everything counts from its creation.
      expect(await one(new Date(t0.getTime() + config.renewalMs))).toMatchObject({
        createdAt: t0.toISOString(),
        modifiedAt: t0.toISOString(),
        lastRenewal: null,
        nextRenewal: new Date(t0.getTime() + config.renewalMs).toISOString(),
        renewalDue: false,
        expired: false,
        status: 'reserved'
      });
      expect((await one(new Date(t0.getTime() + config.renewalMs + 1))).renewalDue).toBe(true);
      await database.db.update(files).set({ status: 'available', committedAt: t1 }).where(eq(files.id, r.fileId));
      expect(await one(new Date(t1.getTime() + config.renewalMs))).toMatchObject({
        modifiedAt: t1.toISOString(),
        nextRenewal: new Date(t1.getTime() + config.renewalMs).toISOString(),
        renewalDue: false
      });
      expect((await one(new Date(t1.getTime() + config.renewalMs + 1))).renewalDue).toBe(true);
      expect((await one(new Date(t1.getTime() + config.expirationMs))).expired).toBe(false);
      expect((await one(new Date(t1.getTime() + config.expirationMs + 1))).expired).toBe(true);
      const t2 = new Date(t1.getTime() + 40 * DAY);
      await database.db.update(files).set({ lastRenewalAt: t2, epoch: 1 }).where(eq(files.id, r.fileId));
      const renewed = await one(new Date(t2.getTime() + config.renewalMs));
      expect(renewed).toMatchObject({
        lastRenewal: t2.toISOString(),
        modifiedAt: t1.toISOString(),
        epoch: 1,
        nextRenewal: new Date(t2.getTime() + config.renewalMs).toISOString(),
        renewalDue: false,
        expired: false
      });
      expect((await one(new Date(t2.getTime() + config.expirationMs + 1))).expired).toBe(true);
    });

    it('lists each file with its fields and its relays by name, online or not; a tree file with its layout', async () => {
      const ctx = await someone();
      const r = await reserve(ctx, { name: 'fields.bin', size: 123, type: 'image/png', relays: [fakes[0]!.id, fakes[1]!.id, fakes[2]!.id] });
      try {
        await database.db
          .update(relays)
          .set({ lastHeartbeat: new Date(Date.now() - 7_200_000), location: 'cellar' })
          .where(eq(relays.id, fakes[0]!.id));
        const [view] = await listFiles(ctx);
        expect(view).toMatchObject({
          id: r.fileId,
          name: 'fields.bin',
          folderId: null,
          size: 123,
          type: 'image/png',
          k: 2,
          n: 3,
          mode: 'shamir',
          status: 'reserved',
          epoch: 0,
          renewal: null,
          health: null
        });
        expect('owner' in view! || 'layout' in view!).toBe(false);
        expect(view!.relays).toEqual([
          { relayId: fakes[1]!.id, name: 'f-a', location: 'test', online: true },
          { relayId: fakes[0]!.id, name: 'f-b', location: 'cellar', online: false },
          { relayId: fakes[2]!.id, name: 'f-d', location: 'test', online: true }
        ]);
        const [paged] = await fileViews(ctx, [await fileRow(r.fileId)]);
        expect(paged).toEqual(view);
      } finally {
        await database.db.update(relays).set({ lastHeartbeat: new Date(), location: 'test' }).where(eq(relays.id, fakes[0]!.id));
      }
      const layout = {
        kind: 'tree',
        k: 2,
        groups: [
          { kind: 'local', k: 2, relays: [fakes[0]!.id, fakes[1]!.id] },
          { kind: 'local', k: 2, relays: [fakes[2]!.id, fakes[3]!.id] }
        ]
      };
      const t = await reserveFile(ctx, { name: 'tree.bin', size: 10, layout });
      const tree = (await listFiles(ctx)).find((f) => f.id === t.fileId)!;
      expect(tree.layout).toEqual(t.layout);
      expect(await fileViews(ctx, [])).toEqual([]);
    });

    it("lists the owner's files newest first, reserved, available and being deleted, never deleted, trashed or replacing ones", async () => {
      const ctx = await someone();
      const at = (day: number) => new Date(Date.UTC(2024, 0, day));
      const made: Record<string, string> = {};
      for (const [i, name] of ['reserved', 'available', 'deleting', 'deleted', 'trashed', 'replacing'].entries()) made[name] = (await reserve(ctx, { name }, at(i + 1))).fileId;
      await database.db.update(files).set({ status: 'available' }).where(eq(files.id, made.available!));
      await database.db.update(files).set({ status: 'deleting' }).where(eq(files.id, made.deleting!));
      await database.db.update(files).set({ status: 'deleted' }).where(eq(files.id, made.deleted!));
      await database.db.update(files).set({ trashedAt: new Date() }).where(eq(files.id, made.trashed!));
      await database.db.update(files).set({ replacesId: made.available! }).where(eq(files.id, made.replacing!));
      const list = await listFiles(ctx);
      expect(list.map((f) => f.name)).toEqual(['deleting', 'available', 'reserved']);
      expect(list.map((f) => f.relays.length)).toEqual([2, 2, 2]);
      expect(await listFiles(bob)).not.toContainEqual(expect.objectContaining({ id: made.available }));
    });

    it('lists files shared with me newest first with their owner and relays, only available ones outside the trash', async () => {
      const owner = await someone();
      const me = await someone();
      const at = (day: number) => new Date(Date.UTC(2025, 0, day));
      const made: Record<string, string> = {};
      for (const [i, name] of ['older', 'newer', 'reserved', 'trashed', 'notshared'].entries()) made[name] = (await reserve(owner, { name }, at(i + 1))).fileId;
      await database.db
        .update(files)
        .set({ status: 'available' })
        .where(inArray(files.id, [made.older!, made.newer!, made.trashed!, made.notshared!]));
      await database.db.update(files).set({ trashedAt: new Date() }).where(eq(files.id, made.trashed!));
      await database.db.insert(grants).values([made.older!, made.newer!, made.reserved!, made.trashed!].map((fileId) => ({ fileId, userId: me.user.id })));
      expect(await sharedWithMe(owner)).toEqual([]);
      const list = await sharedWithMe(me);
      expect(list.map((f) => f.name)).toEqual(['newer', 'older']);
      for (const f of list) {
        expect(f.owner).toEqual({ email: owner.user.email, displayName: owner.user.displayName });
        expect(f.relays.map((r) => r.name)).toEqual(['f-a', 'f-b']);
        expect(f.health).toBeNull();
      }
      // Each file's share checks, found by its id.
      const checkedAt = new Date('2025-06-01T00:00:00Z');
      await database.db.insert(shareHealth).values(two().map((relayId) => ({ fileId: made.newer!, relayId, state: 'ok' as const, checkedAt })));
      const [newer, older] = await sharedWithMe(me);
      expect(newer!.health).toMatchObject({ checkedAt: checkedAt.toISOString(), shares: [{ state: 'ok' }, { state: 'ok' }] });
      expect(older!.health).toBeNull();
    });
  });

  describe('manifest, removal and the retrieval report', () => {
    const committed = async (ctx: Ctx, over: Record<string, unknown> = {}) => {
      const r = await reserve(ctx, over);
      await commitFile(ctx, r.fileId, { roots: await stock(r) });
      return r;
    };

    it('answers a manifest with its record name, a display name only after a rename, get tokens, relays online or not, and a tree', async () => {
      const r = await committed(alice, { name: 'record.bin', size: 10, type: 'text/csv' });
      await database.db.insert(grants).values({ fileId: r.fileId, userId: bob.user.id });
      const m = await manifest(bob, r.fileId);
      expect(m).toMatchObject({ fileId: r.fileId, name: 'record.bin', size: 10, type: 'text/csv', k: 2, n: 2, chunkSize: r.chunkSize, chunkCount: r.chunkCount, epoch: 0, mode: 'shamir' });
      expect('displayName' in m || 'layout' in m).toBe(false);
      expect(m.placements.map(({ relayId, name, url, location, x, online }) => ({ relayId, name, url, location, x, online }))).toEqual(
        [...r.placements].sort((a, b) => a.x - b.x).map((p) => ({ relayId: p.relayId, name: p.name, url: p.url, location: 'test', x: p.x, online: true }))
      );
      for (const p of m.placements) {
        expect('groupX' in p).toBe(false);
        const c = decodeJwt(p.token);
        expect(c).toMatchObject({ fid: r.fileId, op: 'get', aud: p.relayId });
        expect(c.exp! - c.iat!).toBe(config.tokenTtlS);
      }
      await database.db.update(files).set({ recordName: 'record.bin' }).where(eq(files.id, r.fileId));
      expect('displayName' in (await manifest(alice, r.fileId))).toBe(false);
      await database.db.update(files).set({ name: 'renamed.bin' }).where(eq(files.id, r.fileId));
      expect(await manifest(alice, r.fileId)).toMatchObject({ name: 'record.bin', displayName: 'renamed.bin' });
      await database.db.update(files).set({ recordName: null }).where(eq(files.id, r.fileId));
      expect((await manifest(alice, r.fileId)).name).toBe('renamed.bin');

      const later = new Date(Date.now() + 2 * 3_600_000);
      const ttl = await readManifest(database.db, alice.key, config, await fileRow(r.fileId), 'link-subject', 120, later);
      expect(ttl.placements.map((p) => p.online)).toEqual([false, false]);
      for (const p of ttl.placements) {
        const c = decodeJwt(p.token);
        expect(c.exp! - c.iat!).toBe(120);
      }
      const pending = await reserve(alice);
      expect(await refusal(manifest(alice, pending.fileId))).toBe('NOT_FOUND: File not found on the servers.');

      const layout = {
        kind: 'tree',
        k: 2,
        groups: [
          { kind: 'local', k: 2, relays: [fakes[0]!.id, fakes[1]!.id] },
          { kind: 'local', k: 2, relays: [fakes[2]!.id, fakes[3]!.id] }
        ]
      };
      const t = await reserveFile(alice, { name: `tree-${randomUUID()}.bin`, size: 10, layout });
      await commitFile(alice, t.fileId, { roots: await stock(t) });
      const tm = await manifest(alice, t.fileId);
      expect(tm.layout).toEqual(t.layout);
      expect(Object.fromEntries(tm.placements.map((p) => [p.relayId, p.groupX]))).toEqual(Object.fromEntries(t.placements.map((p) => [p.relayId, p.groupX])));
    });

    it('removes an available or reserved file: deleting, its grants gone, a job and a history line; never for a grantee', async () => {
      const r = await committed(alice);
      await database.db.insert(grants).values({ fileId: r.fileId, userId: bob.user.id });
      expect(await refusal(removeFile(bob, r.fileId))).toBe('NOT_FOUND: File not found on the servers.');
      const now = new Date('2033-03-03T03:03:03Z');
      expect(await removeFile(alice, r.fileId, now)).toEqual({ fileId: r.fileId, status: 'deleting' });
      expect((await fileRow(r.fileId)).status).toBe('deleting');
      expect(await database.db.select().from(grants).where(eq(grants.fileId, r.fileId))).toEqual([]);
      const [job] = await database.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.kind, 'delete-file'), eq(jobs.key, r.fileId)));
      expect(job).toMatchObject({ payload: { fileId: r.fileId }, runAfter: now });
      expect((await listHistory(database.db, alice.user.id))[0]).toMatchObject({ operation: 'remove', fileId: r.fileId, fileName: r.name, result: 'ok' });
      expect(await refusal(removeFile(alice, r.fileId))).toBe('NOT_FOUND: File not found on the servers.');
      const pending = await reserve(alice);
      expect((await removeFile(alice, pending.fileId)).status).toBe('deleting');
    });

    it('records a retrieval report: its result, the relays named by name, the message cleaned, and a check when a relay of the file is named', async () => {
      const r = await committed(alice);
      const [p0, p1] = r.placements;
      const lastLine = async () => (await database.db.select().from(history).where(eq(history.fileId, r.fileId)).orderBy(desc(history.id)).limit(1))[0]!;
      const checks = async () =>
        (
          await database.db
            .select()
            .from(jobs)
            .where(and(eq(jobs.kind, 'check-file'), eq(jobs.key, r.fileId)))
        ).length;
      for (const result of ['bad', undefined, 'OK'])
        expect(await refusal(reportRetrieval(alice, r.fileId, { result }))).toBe('WRONG_VALUE: Wrong value supplied for field "result". Valid values are ok, error.');

      expect(await reportRetrieval(alice, r.fileId, { result: 'ok', badRelays: 'x', failedRelays: 7, message: 5 })).toEqual({ recorded: true, checkScheduled: false });
      expect(await lastLine()).toMatchObject({ operation: 'retrieve', result: 'ok', detail: '', fileName: r.name, userId: alice.user.id });
      expect(await checks()).toBe(0);

      // Names only for relays of this file; unknown ids and non-strings are dropped, and at most 255 ids are read.
      const filler = Array.from({ length: 255 }, () => randomUUID());
      expect(await reportRetrieval(alice, r.fileId, { result: 'error', badRelays: [...filler, p0!.relayId], failedRelays: [7, 'nope'], message: 'x'.repeat(400) })).toEqual({
        recorded: true,
        checkScheduled: false
      });
      expect(await lastLine()).toMatchObject({ result: 'error', detail: 'x'.repeat(300) });

      // Non-strings are dropped before the list is cut at 255: they take no place in it.
      const numbers = Array.from({ length: 255 }, (_, i) => i);
      expect(await reportRetrieval(alice, r.fileId, { result: 'error', badRelays: [...numbers, p0!.relayId], failedRelays: [...filler, p1!.relayId] })).toEqual({
        recorded: true,
        checkScheduled: true
      });
      expect((await lastLine()).detail).toBe(`bad data from: ${p0!.name}; check scheduled`);
      await reportRetrieval(alice, r.fileId, { result: 'error', failedRelays: [...numbers, p1!.relayId, p0!.relayId] });
      expect((await lastLine()).detail).toBe(`no answer from: ${p1!.name}, ${p0!.name}; check scheduled`);

      const out = await reportRetrieval(alice, r.fileId, { result: 'error', badRelays: [p0!.relayId, 9, p1!.relayId], failedRelays: [p1!.relayId, 'nope'], message: 'line\none\ttab' });
      expect(out).toEqual({ recorded: true, checkScheduled: true });
      expect((await lastLine()).detail).toBe(`bad data from: ${p0!.name}, ${p1!.name}; no answer from: ${p1!.name}; line one tab; check scheduled`);
      expect(await checks()).toBe(1);
      expect((await reportRetrieval(alice, r.fileId, { result: 'ok', failedRelays: [p0!.relayId] })).checkScheduled).toBe(true);
      expect((await lastLine()).detail).toBe(`no answer from: ${p0!.name}; check scheduled`);
      await database.db.insert(grants).values({ fileId: r.fileId, userId: bob.user.id });
      expect(await reportRetrieval(bob, r.fileId, { result: 'ok' })).toEqual({ recorded: true, checkScheduled: false });
    });
  });
});
