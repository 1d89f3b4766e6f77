/**
 * Folders (folders.ts, bulk-actions.ts, reservations.ts name choices; issue #18) on PGlite and PostgreSQL
 * with real relays: create, paths, breadcrumbs, unique names, moves without cycles or orphans, nesting
 * bounds, renames (display name vs the authenticated record's), duplicate-name choices at reservation,
 * keyset paging and search, bulk requests, other users and read-only grantees.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { and, eq, isNull, sql } from 'drizzle-orm';
import { MAX_BATCH_FILES } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import { files, folders, history, jobs, placements, shareHealth } from './db/schema.js';
import { RENEW_JOB } from './renewal.js';
import { createFolder, listFolder, MAX_FOLDER_DEPTH, updateFile, updateFolder } from './folders.js';
import { bulkAction } from './bulk-actions.js';
import { listFiles, manifest } from './files.js';
import { reserveFile, reserveFiles } from './reservations.js';
import { changeGrants } from './grants.js';
import { listTrash } from './trash.js';
import type { Ctx } from './file-access.js';
import { protect, retrieve } from './testing/protect.js';
import { errorCode, useFileServices } from './testing/file-services.js';

const q = (o: Record<string, string> = {}) => new URLSearchParams(o);

/** Every item of a folder, page by page (limit `limit`), as "d:name" / "f:name"; `extra`: sort and order. */
async function walk(ctx: Ctx, parent: string | undefined, limit: number, extra: Record<string, string> = {}, between?: () => Promise<void>): Promise<{ items: string[]; pages: number }> {
  const items: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    if (pages === 1) await between?.();
    const page = await listFolder(ctx, q({ ...(parent ? { parent } : {}), limit: String(limit), ...extra, ...(cursor ? { cursor } : {}) }));
    items.push(...page.folders.map((f) => `d:${f.name}`), ...page.files.map((f) => `f:${f.name}`));
    cursor = page.nextCursor;
    pages++;
  } while (cursor && pages < 1000);
  return { items, pages };
}

/** Inserts `n` available files (no shares: listing and naming only) into a folder of `ctx`'s user. */
async function seedFiles(ctx: Ctx, n: number, prefix: string, folderId: string | null, relayIds: string[]): Promise<void> {
  for (let start = 0; start < n; start += 500) {
    const batch = Array.from({ length: Math.min(500, n - start) }, (_, i) => ({
      id: randomBytes(16).toString('hex'),
      ownerId: ctx.user.id,
      name: `${prefix}-${String(start + i).padStart(5, '0')}.bin`,
      size: 1000,
      type: 'application/octet-stream',
      k: 2,
      n: 3,
      chunkSize: 1 << 20,
      chunkCount: 1,
      status: 'available' as const,
      committedAt: new Date(),
      folderId
    }));
    await ctx.db.insert(files).values(batch);
    await ctx.db.insert(placements).values(batch.flatMap((f) => relayIds.map((relayId, j) => ({ fileId: f.id, relayId, x: j + 1 }))));
  }
}

describeDatabases('folders on $name', { once: true }, ({ open }) => {
  const fx = useFileServices(open);

  it('makes folders and paths, lists them with breadcrumbs, keeps names unique per folder', async () => {
    const photos = await createFolder(fx.alice, { name: 'Photos' });
    const y2025 = await createFolder(fx.alice, { name: '2025', parentId: photos.id });
    // The same name elsewhere is fine; in the same folder it is not, for folders and files alike.
    await createFolder(fx.alice, { name: '2025' });
    expect(await errorCode(createFolder(fx.alice, { name: '2025', parentId: photos.id }))).toBe('FILENAME_IN_USE');
    const fileId = await protect(fx.alice, 'beach.jpg', randomBytes(500), 2, undefined, { folderId: y2025.id });
    expect(await errorCode(createFolder(fx.alice, { name: 'beach.jpg', parentId: y2025.id }))).toBe('FILENAME_IN_USE');
    expect(await errorCode(reserveFile(fx.alice, { name: '2025', size: 1, type: '', k: 2, folderId: photos.id }))).toBe('FILENAME_IN_USE');
    // A path makes what is missing and answers the last folder; asked again, the same folder (idempotent).
    const deep = await createFolder(fx.alice, { path: 'Photos/2025/summer/beach' });
    expect(await createFolder(fx.alice, { path: '/Photos/2025/summer/beach/' })).toEqual(deep);
    const page = await listFolder(fx.alice, q({ parent: y2025.id }));
    expect(page.folder).toMatchObject({ id: y2025.id, name: '2025', parentId: photos.id });
    expect(page.path).toEqual([
      { id: photos.id, name: 'Photos' },
      { id: y2025.id, name: '2025' }
    ]);
    expect(page.folders.map((f) => f.name)).toEqual(['summer']);
    expect(page.files.map((f) => [f.id, f.name, f.folderId])).toEqual([[fileId, 'beach.jpg', y2025.id]]);
    const deepPage = await listFolder(fx.alice, q({ parent: deep.id }));
    expect(deepPage.path.map((p) => p.name)).toEqual(['Photos', '2025', 'summer', 'beach']);
    const root = await listFolder(fx.alice, q());
    expect(root.folder).toBeNull();
    expect(root.path).toEqual([]);
    expect(root.folders.map((f) => f.name)).toEqual(expect.arrayContaining(['2025', 'Photos']));
    // The whole-account list still has the file (the existing UI and CLI read it), with its folder.
    expect((await listFiles(fx.alice)).find((f) => f.id === fileId)?.folderId).toBe(y2025.id);
  });

  it('keeps both on request: a dropped folder whose name is taken gets the first free "name (n)", with no extension split', async () => {
    const first = await createFolder(fx.alice, { name: 'my.photos' });
    // Replayed with keepBoth: a new folder each time, never the one holding the name.
    const second = await createFolder(fx.alice, { name: 'my.photos', onConflict: 'keepBoth' });
    const third = await createFolder(fx.alice, { name: 'my.photos', onConflict: 'keepBoth' });
    expect([first.name, second.name, third.name]).toEqual(['my.photos', 'my.photos (2)', 'my.photos (3)']);
    expect(new Set([first.id, second.id, third.id]).size).toBe(3);
    // A free name is taken as it is; a file holding the name counts too.
    expect((await createFolder(fx.alice, { name: 'fresh-drop', onConflict: 'keepBoth' })).name).toBe('fresh-drop');
    await protect(fx.alice, 'clash', randomBytes(10), 2);
    expect((await createFolder(fx.alice, { name: 'clash', onConflict: 'keepBoth' })).name).toBe('clash (2)');
    // "fail" is the default; anything else is refused with a code, and nothing is made.
    expect(await errorCode(createFolder(fx.alice, { name: 'my.photos', onConflict: 'fail' }))).toBe('FILENAME_IN_USE');
    const before = (await fx.database.db.select().from(folders)).length;
    for (const onConflict of ['replace', 'skip', 1, null, ['keepBoth']]) {
      expect(await errorCode(createFolder(fx.alice, { name: 'odd', onConflict })), String(onConflict)).toBe('WRONG_VALUE');
    }
    expect(await errorCode(createFolder(fx.alice, { name: 'x', parentId: 'f'.repeat(32), onConflict: 'keepBoth' }))).toBe('NOT_FOUND');
    expect((await fx.database.db.select().from(folders)).length).toBe(before);
  });

  it('refuses bad names, unknown parents and nesting past the limit with a code, never a 500, and makes nothing', async () => {
    const before = (await fx.database.db.select().from(folders)).length;
    for (const name of ['a/b', '..', '.', 'tab\there', 'nul\u0000', ' lead', 'x'.repeat(256), '', 42, null]) {
      expect(await errorCode(createFolder(fx.alice, { name })), String(name)).toBe('INVALID_FILENAME');
    }
    expect(await errorCode(createFolder(fx.alice, { path: 'ok/../bad' }))).toBe('INVALID_FILENAME');
    expect(await errorCode(createFolder(fx.alice, { path: '' }))).toBe('WRONG_VALUE');
    expect(await errorCode(createFolder(fx.alice, { path: 7 }))).toBe('WRONG_VALUE');
    expect(await errorCode(createFolder(fx.alice, { name: 'x', parentId: 'f'.repeat(32) }))).toBe('NOT_FOUND');
    expect(await errorCode(createFolder(fx.alice, { name: 'x', parentId: '../../etc' }))).toBe('NOT_FOUND');
    // 1,000 levels in one path: refused before anything is made.
    expect(await errorCode(createFolder(fx.alice, { path: Array.from({ length: 1000 }, (_, i) => `l${i}`).join('/') }))).toBe('FOLDER_TOO_DEEP');
    expect((await fx.database.db.select().from(folders)).length).toBe(before);
    // Exactly the limit is fine; one more level is not.
    const deepest = await createFolder(fx.alice, { path: Array.from({ length: MAX_FOLDER_DEPTH }, (_, i) => `d${i}`).join('/') });
    expect((await listFolder(fx.alice, q({ parent: deepest.id }))).path).toHaveLength(MAX_FOLDER_DEPTH);
    expect(await errorCode(createFolder(fx.alice, { name: 'one-more', parentId: deepest.id }))).toBe('FOLDER_TOO_DEEP');
  });

  it('moves folders without cycles (into itself or below: FOLDER_CYCLE) or orphans, and within the depth limit', async () => {
    const a = await createFolder(fx.alice, { path: 'move-a' });
    const b = await createFolder(fx.alice, { path: 'move-a/b' });
    const c = await createFolder(fx.alice, { path: 'move-a/b/c' });
    expect(await errorCode(updateFolder(fx.alice, a.id, { parentId: a.id }))).toBe('FOLDER_CYCLE');
    expect(await errorCode(updateFolder(fx.alice, a.id, { parentId: c.id }))).toBe('FOLDER_CYCLE');
    expect(await errorCode(updateFolder(fx.alice, 'root', { name: 'x' }))).toBe('WRONG_VALUE');
    expect(await errorCode(updateFolder(fx.alice, a.id, {}))).toBe('WRONG_VALUE');
    // c moves up to the root, then a moves into c: a legal reshuffle, the tree stays whole.
    expect(await updateFolder(fx.alice, c.id, { parentId: null })).toMatchObject({ id: c.id, parentId: null });
    expect(await updateFolder(fx.alice, a.id, { parentId: c.id, name: 'moved-a' })).toMatchObject({ parentId: c.id, name: 'moved-a' });
    // Replayed: the same request answers the same folder.
    expect(await updateFolder(fx.alice, a.id, { parentId: c.id, name: 'moved-a' })).toMatchObject({ parentId: c.id, name: 'moved-a' });
    expect((await listFolder(fx.alice, q({ parent: b.id }))).path.map((p) => p.name)).toEqual(['c', 'moved-a', 'b']);
    // A move that would nest past the limit: a chain of 60 under a folder 10 deep.
    const tall = await createFolder(fx.alice, { path: Array.from({ length: 60 }, (_, i) => `t${i}`).join('/') });
    const ten = await createFolder(fx.alice, { path: Array.from({ length: 10 }, (_, i) => `u${i}`).join('/') });
    const top = (await listFolder(fx.alice, q({ parent: tall.id }))).path[0]!;
    expect(await errorCode(updateFolder(fx.alice, top.id, { parentId: ten.id }))).toBe('FOLDER_TOO_DEEP');
    // Concurrent opposite moves (x into y, y into x): one wins, the other is a cycle; never both.
    const x = await createFolder(fx.alice, { name: 'race-x' });
    const y = await createFolder(fx.alice, { name: 'race-y' });
    const both = await Promise.allSettled([updateFolder(fx.alice, x.id, { parentId: y.id }), updateFolder(fx.alice, y.id, { parentId: x.id })]);
    expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(both.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code: string }).code] : []))).toEqual(['FOLDER_CYCLE']);
    const rows = await fx.database.db.select().from(folders).where(eq(folders.ownerId, fx.alice.user.id));
    // No orphan, no cycle: every folder reaches the root within the depth limit.
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const r of rows) {
      let at: string | null = r.id;
      let steps = 0;
      while (at !== null && steps <= MAX_FOLDER_DEPTH) {
        at = byId.get(at)!.parentId;
        steps++;
      }
      expect(at, r.name).toBeNull();
    }
  });

  it('renames and moves files: the display name changes, the record keeps its name, retrieval still verifies', async () => {
    const data = randomBytes(3000);
    const id = await protect(fx.alice, 'draft.txt', data, 2);
    const docs = await createFolder(fx.alice, { name: 'Docs' });
    expect(await updateFile(fx.alice, id, { name: 'final.txt', folderId: docs.id })).toMatchObject({ id, name: 'final.txt', folderId: docs.id });
    const m = await manifest(fx.alice, id);
    expect(m.name).toBe('draft.txt');
    expect(m.displayName).toBe('final.txt');
    expect(Buffer.from(await retrieve(fx.alice, id)).equals(data)).toBe(true);
    // Renamed back: the record's name again, and no displayName.
    await updateFile(fx.alice, id, { name: 'draft.txt' });
    expect((await manifest(fx.alice, id)).displayName).toBeUndefined();
    // Bad names, taken names, unknown folders, nothing to do.
    await protect(fx.alice, 'other.txt', randomBytes(10), 2, undefined, { folderId: docs.id });
    expect(await errorCode(updateFile(fx.alice, id, { name: 'other.txt' }))).toBe('FILENAME_IN_USE');
    expect(await errorCode(updateFile(fx.alice, id, { name: '../x' }))).toBe('INVALID_FILENAME');
    expect(await errorCode(updateFile(fx.alice, id, { name: 'a\u0007b' }))).toBe('INVALID_FILENAME');
    expect(await errorCode(updateFile(fx.alice, id, { folderId: 'a'.repeat(32) }))).toBe('NOT_FOUND');
    expect(await errorCode(updateFile(fx.alice, id, {}))).toBe('WRONG_VALUE');
    expect(await errorCode(updateFile(fx.alice, 'not-an-id', { name: 'x' }))).toBe('NOT_FOUND');
    // Back to the root by null.
    expect(await updateFile(fx.alice, id, { folderId: null })).toMatchObject({ folderId: null });
  });

  it('gives two concurrent renames to one name to exactly one of them', async () => {
    const a = await protect(fx.alice, 'race-a.bin', randomBytes(10), 2);
    const b = await protect(fx.alice, 'race-b.bin', randomBytes(10), 2);
    const out = await Promise.allSettled([updateFile(fx.alice, a, { name: 'race.bin' }), updateFile(fx.alice, b, { name: 'race.bin' })]);
    expect(out.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(((out.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as { code: string }).code).toBe('FILENAME_IN_USE');
    const named = await fx.database.db
      .select()
      .from(files)
      .where(and(eq(files.ownerId, fx.alice.user.id), eq(files.name, 'race.bin'), isNull(files.trashedAt)));
    expect(named).toHaveLength(1);
  });

  it("hides other users' folders and files, and read-only grantees may not rename or move", async () => {
    const mine = await createFolder(fx.alice, { name: 'alice-private' });
    const id = await protect(fx.alice, 'shared.bin', randomBytes(100), 2);
    await changeGrants(fx.alice, { action: 'add_read', emails: ['bob@x.test'], fileIds: [id] });
    const bobs = await createFolder(fx.bob, { name: 'bob-folder' });
    expect(await errorCode(listFolder(fx.bob, q({ parent: mine.id })))).toBe('NOT_FOUND');
    expect(await errorCode(createFolder(fx.bob, { name: 'in-alice', parentId: mine.id }))).toBe('NOT_FOUND');
    expect(await errorCode(updateFolder(fx.bob, mine.id, { name: 'taken-over' }))).toBe('NOT_FOUND');
    expect(await errorCode(updateFolder(fx.bob, bobs.id, { parentId: mine.id }))).toBe('NOT_FOUND');
    expect(await errorCode(updateFile(fx.bob, id, { name: 'renamed-by-bob' }))).toBe('NOT_FOUND');
    expect(await errorCode(updateFile(fx.bob, id, { folderId: bobs.id }))).toBe('NOT_FOUND');
    expect(await errorCode(updateFile(fx.alice, id, { folderId: bobs.id }))).toBe('NOT_FOUND');
    expect(await errorCode(reserveFile(fx.bob, { name: 'x.bin', size: 1, type: '', k: 2, folderId: mine.id }))).toBe('NOT_FOUND');
    const bulk = await bulkAction(fx.bob, { action: 'move', files: [id], folders: [mine.id], to: bobs.id });
    expect(bulk.results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['NOT_FOUND', 'NOT_FOUND']);
    // Bob's root does not list Alice's folders; his search does not find her files.
    expect((await listFolder(fx.bob, q())).folders.map((f) => f.name)).toEqual(['bob-folder']);
    expect((await listFolder(fx.bob, q({ q: 'shared' }))).files).toEqual([]);
  });

  it('resolves duplicate names at reservation: fail, skip, keep both, replace (the old file goes to the trash)', async () => {
    const dir = await createFolder(fx.alice, { name: 'dups' });
    const first = randomBytes(200);
    const oldId = await protect(fx.alice, 'report.pdf', first, 2, undefined, { folderId: dir.id });
    const ask = (onConflict?: string) => reserveFile(fx.alice, { name: 'report.pdf', size: 10, type: '', k: 2, folderId: dir.id, ...(onConflict ? { onConflict } : {}) });
    expect(await errorCode(ask())).toBe('FILENAME_IN_USE');
    expect(await errorCode(ask('fail'))).toBe('FILENAME_IN_USE');
    expect(await errorCode(ask('skip'))).toBe('FILENAME_IN_USE');
    expect(await errorCode(ask('overwrite'))).toBe('WRONG_VALUE');
    // Keep both: the first free "name (n).ext", and the record holds that name.
    const both = await protect(fx.alice, 'report.pdf', randomBytes(300), 2, undefined, { folderId: dir.id, onConflict: 'keepBoth' });
    const second = await listFolder(fx.alice, q({ parent: dir.id }));
    expect(second.files.map((f) => f.name)).toEqual(['report (2).pdf', 'report.pdf']);
    expect((await manifest(fx.alice, both)).name).toBe('report (2).pdf');
    // Replace: the old file stays listed until the new one commits, then it is in the trash, restorable.
    const newer = randomBytes(400);
    const newId = await protect(fx.alice, 'report.pdf', newer, 2, undefined, { folderId: dir.id, onConflict: 'replace' });
    const third = await listFolder(fx.alice, q({ parent: dir.id }));
    expect(third.files.map((f) => [f.name, f.id])).toEqual([
      ['report (2).pdf', both],
      ['report.pdf', newId]
    ]);
    expect(Buffer.from(await retrieve(fx.alice, newId)).equals(newer)).toBe(true);
    expect((await listTrash(fx.alice, q())).items.map((i) => i.id)).toContain(oldId);
    // A folder is never replaced by a file.
    await createFolder(fx.alice, { name: 'sub', parentId: dir.id });
    expect(await errorCode(reserveFile(fx.alice, { name: 'sub', size: 1, type: '', k: 2, folderId: dir.id, onConflict: 'replace' }))).toBe('FILENAME_IN_USE');
    // In a batch: each item on its own, names taken earlier in the same batch count.
    const batch = await reserveFiles(fx.alice, {
      files: [
        { name: 'report.pdf', size: 1, type: '', k: 2, folderId: dir.id, onConflict: 'skip' },
        { name: 'report.pdf', size: 1, type: '', k: 2, folderId: dir.id, onConflict: 'keepBoth' },
        { name: 'new.txt', size: 1, type: '', k: 2, folderId: dir.id },
        { name: 'new.txt', size: 1, type: '', k: 2, folderId: dir.id, onConflict: 'keepBoth' },
        { name: 'new.txt', size: 1, type: '', k: 2, folderId: 'e'.repeat(32) }
      ]
    });
    expect(batch.results.map((r) => (r.ok ? r.reservation.name : r.error.code))).toEqual(['FILENAME_IN_USE', 'report (3).pdf', 'new.txt', 'new (2).txt', 'NOT_FOUND']);
  });

  it('pages a folder of 2,500 files and 120 folders by cursor (no item twice or lost), searches, refuses bad cursors', async () => {
    const big = await createFolder(fx.alice, { name: 'big' });
    for (let i = 0; i < 120; i++) await createFolder(fx.alice, { name: `sub-${String(i).padStart(3, '0')}`, parentId: big.id });
    await seedFiles(
      fx.alice,
      2500,
      'item',
      big.id,
      fx.relays.map((r) => r.id)
    );
    const { items, pages } = await walk(fx.alice, big.id, 100);
    expect(items).toHaveLength(2620);
    expect(new Set(items).size).toBe(2620);
    expect(pages).toBe(27);
    expect(items.slice(0, 120).every((x) => x.startsWith('d:'))).toBe(true);
    expect(items.slice(120)).toEqual(items.slice(120).toSorted());
    // Page sizes that end exactly on the last folder continue with the files.
    expect((await walk(fx.alice, big.id, 120)).items).toEqual(items);
    expect((await walk(fx.alice, big.id, 500)).items).toEqual(items);
    // Search: case-insensitive substring over the whole account; % and _ are literal.
    const found = await listFolder(fx.alice, q({ q: 'ITEM-0249', limit: '50' }));
    expect(found.files.map((f) => f.name)).toEqual([
      'item-02490.bin',
      'item-02491.bin',
      'item-02492.bin',
      'item-02493.bin',
      'item-02494.bin',
      'item-02495.bin',
      'item-02496.bin',
      'item-02497.bin',
      'item-02498.bin',
      'item-02499.bin'
    ]);
    expect((await listFolder(fx.alice, q({ q: '%' }))).files).toEqual([]);
    for (const [k, val] of [
      ['cursor', 'not-base64-json'],
      ['cursor', Buffer.from('{"k":"x","n":1}').toString('base64url')],
      ['cursor', 'a'.repeat(3000)],
      ['limit', '0'],
      ['limit', '501'],
      ['limit', 'ten'],
      ['q', 'a\u0000b'],
      ['q', 'x'.repeat(256)]
    ] as const) {
      expect(await errorCode(listFolder(fx.alice, q({ parent: big.id, [k]: val }))), `${k}=${val.slice(0, 20)}`).toBe('WRONG_VALUE');
    }
    expect(await errorCode(listFolder(fx.alice, q({ parent: 'nope' })))).toBe('NOT_FOUND');
  }, 120_000);

  it('sorts on the server by name, size and date both ways, stable across pages with ties, and refuses foreign cursors', async () => {
    const dir = await createFolder(fx.alice, { name: 'sorted' });
    // 12 folders (always first, by name, though made at 3 instants, which must not matter), and 500 files: 5 sizes, 7 dates a microsecond apart
    // (under JavaScript's millisecond: the cursor must carry the database's own value), 20 of them still
    // reserved (no commit date: their reservation's date counts).
    for (let i = 0; i < 12; i++) await createFolder(fx.alice, { name: `dir-${String(i).padStart(2, '0')}`, parentId: dir.id });
    await fx.alice.db.execute(sql`update folders set created_at = timestamptz '2026-01-01 00:00:00+00' + interval '1 microsecond' * (cast(substr(name, 5, 2) as int) % 3) where parent_id = ${dir.id}`);
    await seedFiles(
      fx.alice,
      500,
      'sort',
      dir.id,
      fx.relays.map((r) => r.id)
    );
    const at = (i: number) => i % 7;
    await fx.alice.db.execute(
      sql`update files set size = 1000 * (cast(substr(name, 6, 5) as int) % 5), committed_at = timestamptz '2026-01-01 00:00:00+00' + interval '1 microsecond' * (cast(substr(name, 6, 5) as int) % 7) where folder_id = ${dir.id}`
    );
    await fx.alice.db.execute(
      sql`update files set status = 'reserved', committed_at = null, created_at = timestamptz '2026-01-01 00:00:00+00' + interval '1 microsecond' * (cast(substr(name, 6, 5) as int) % 7) where folder_id = ${dir.id} and cast(substr(name, 6, 5) as int) % 25 = 0`
    );
    const rows = await fx.alice.db.select({ id: files.id, name: files.name }).from(files).where(eq(files.folderId, dir.id));
    const dirs = await fx.alice.db.select({ id: folders.id, name: folders.name }).from(folders).where(eq(folders.parentId, dir.id));
    const idx = (name: string) => Number(name.slice(5, 10));
    const cmp = (a: number | string, b: number | string) => (a < b ? -1 : a > b ? 1 : 0);
    // The expected orders, computed here from the same values: (key, id), the id in the key's direction.
    const expected = (sort: string, order: string): string[] => {
      const sign = order === 'desc' ? -1 : 1;
      const fileKey = (f: { name: string }) => (sort === 'name' ? f.name : sort === 'size' ? 1000 * (idx(f.name) % 5) : at(idx(f.name)));
      const ds = dirs.toSorted((a, b) => cmp(a.name, b.name)).map((d) => `d:${d.name}`);
      const fs = rows.toSorted((a, b) => sign * (cmp(fileKey(a), fileKey(b)) || cmp(a.id, b.id))).map((f) => `f:${f.name}`);
      return [...ds, ...fs];
    };
    for (const sort of ['name', 'size', 'date']) {
      for (const order of ['asc', 'desc']) {
        const want = expected(sort, order);
        expect(want).toHaveLength(512);
        for (const limit of [7, 100, 500]) expect((await walk(fx.alice, dir.id, limit, { sort, order })).items, `${sort} ${order} by ${limit}`).toEqual(want);
      }
    }
    // Default: name ascending, as before.
    expect((await walk(fx.alice, dir.id, 100)).items).toEqual(expected('name', 'asc'));
    // Stable while the folder changes under a walk: a file added after the first page (sorting before the
    // cursor, largest first) is not shown in this walk, and no item repeats or goes missing.
    const during = await walk(fx.alice, dir.id, 50, { sort: 'size', order: 'desc' }, async () => {
      await seedFiles(
        fx.alice,
        1,
        'late',
        dir.id,
        fx.relays.map((r) => r.id)
      );
      await fx.alice.db.execute(sql`update files set size = 1000000 where name = 'late-00000.bin'`);
    });
    expect(during.items).toEqual(expected('size', 'desc'));
    expect((await listFolder(fx.alice, q({ parent: dir.id, sort: 'size', order: 'desc', limit: '13' }))).folders).toHaveLength(12);
    expect((await listFolder(fx.alice, q({ parent: dir.id, sort: 'size', order: 'desc', limit: '13' }))).files.map((f) => f.name)).toEqual(['late-00000.bin']);
    // A search sorts the same way.
    const found = await listFolder(fx.alice, q({ q: 'sort-0001', sort: 'size', order: 'desc', limit: '50' }));
    expect(found.files.map((f) => f.size)).toEqual(found.files.map((f) => f.size).toSorted((a, b) => b - a));

    // Bad input: a clear WRONG_VALUE, never a 500, including cursors forged or made for another sort.
    const first = await listFolder(fx.alice, q({ parent: dir.id, sort: 'size', order: 'asc', limit: '20' }));
    const forge = (c: object) => Buffer.from(JSON.stringify(c)).toString('base64url');
    const bads: Array<Record<string, string>> = [
      { sort: 'owner' },
      { sort: 'SIZE' },
      { order: 'up' },
      { sort: 'size', order: 'desc', cursor: first.nextCursor! },
      { sort: 'date', order: 'asc', cursor: first.nextCursor! },
      { cursor: first.nextCursor! },
      { sort: 'size', cursor: forge({ k: 'f', n: 'ten', i: 'x', s: 'size', o: 'asc' }) },
      { sort: 'size', cursor: forge({ k: 'f', n: '1'.repeat(30), i: 'x', s: 'size', o: 'asc' }) },
      { sort: 'date', cursor: forge({ k: 'f', n: 'yesterday', i: 'x', s: 'date', o: 'asc' }) },
      { sort: 'date', cursor: forge({ k: 'f', n: "2026-01-01'; drop table files; --", i: 'x', s: 'date', o: 'asc' }) }
    ];
    for (const params of bads) {
      expect(await errorCode(listFolder(fx.alice, q({ parent: dir.id, ...params }))), JSON.stringify(params)).toBe('WRONG_VALUE');
    }
    // A well-formed date that the database still cannot read (month 13): refused, not a 500.
    const month13 = listFolder(fx.alice, q({ parent: dir.id, sort: 'date', cursor: forge({ k: 'f', n: '2026-13-01 00:00:00+00', i: 'x', s: 'date', o: 'asc' }) }));
    expect(await errorCode(month13)).toBe('WRONG_VALUE');
  }, 180_000);

  it("shows a page's files exactly as the whole list does: placements, health and renewal state read by the page's ids", async () => {
    // folders.ts listFolder reads these by the page's ids (files.ts fileViews), listFiles by the owner's
    // files: the two must agree on every field. Health: none, all good, one share missing, scrub damage.
    // Renewal: a failed renewal in the history, one that failed then succeeded, a pending and a failed job.
    const dir = await createFolder(fx.alice, { name: 'views' });
    const relayIds = fx.relays.map((r) => r.id);
    await seedFiles(fx.alice, 40, 'view', dir.id, relayIds);
    const rows = await fx.alice.db.select({ id: files.id, name: files.name }).from(files).where(eq(files.folderId, dir.id)).orderBy(files.name);
    expect(rows).toHaveLength(40);
    const checkedAt = new Date('2026-02-01T00:00:00Z');
    const at = (s: number) => new Date(Date.UTC(2026, 1, 2, 0, 0, s));
    for (const [i, f] of rows.entries()) {
      if (i % 4 !== 0) {
        await fx.alice.db.insert(shareHealth).values(
          relayIds.map((relayId, j) => ({
            fileId: f.id,
            relayId,
            state: i % 4 === 2 && j === 0 ? ('missing' as const) : ('ok' as const),
            detail: i % 4 === 2 && j === 0 ? '1 of 2 chunks missing' : '',
            scrubDamage: i % 4 === 3 && j === 1 ? [0] : null,
            checkedAt: new Date(checkedAt.getTime() + j * 1000)
          }))
        );
      }
      const entry = (result: 'ok' | 'error', s: number) => ({
        userId: fx.alice.user.id,
        operation: 'renew' as const,
        fileId: f.id,
        fileName: f.name,
        result,
        detail: `renewal ${result} at ${s}`,
        createdAt: at(s)
      });
      if (i % 5 === 1) await fx.alice.db.insert(history).values([entry('ok', 1), entry('error', 2)]);
      if (i % 5 === 2) await fx.alice.db.insert(history).values([entry('error', 1), entry('ok', 2)]);
      if (i % 5 === 3) await fx.alice.db.insert(jobs).values({ kind: RENEW_JOB, key: `${f.id}:0`, payload: {}, status: 'pending' });
      if (i % 5 === 4) await fx.alice.db.insert(jobs).values({ kind: RENEW_JOB, key: `${f.id}:0`, payload: {}, status: 'failed', lastError: 'relay gone' });
    }
    const page = await listFolder(fx.alice, q({ parent: dir.id, limit: '500' }));
    expect(page.files.map((f) => f.id)).toEqual(rows.map((r) => r.id));
    const whole = new Map((await listFiles(fx.alice)).map((f) => [f.id, f]));
    expect(page.files).toEqual(page.files.map((f) => whole.get(f.id)));
    expect(page.files.map((f) => f.renewal)).toEqual(
      rows.map((_, i) => [null, { state: 'failed', reason: 'renewal error at 2' }, null, { state: 'in_progress' }, { state: 'failed', reason: 'relay gone' }][i % 5])
    );
    expect(page.files.map((f) => f.health?.state ?? null)).toEqual(rows.map((_, i) => [null, 'healthy', 'at_risk', 'at_risk'][i % 4]));
    expect(page.files[1]?.health?.checkedAt).toBe(checkedAt.toISOString());
    expect(
      page.files.every(
        (f) =>
          f.relays
            .map((r) => r.relayId)
            .toSorted()
            .join() === relayIds.toSorted().join()
      )
    ).toBe(true);
  });

  it('moves and trashes selections in bulk, item by item, and refuses 10,000 items at once', async () => {
    const to = await createFolder(fx.alice, { name: 'bulk-target' });
    const from = await createFolder(fx.alice, { name: 'bulk-from' });
    const inner = await createFolder(fx.alice, { name: 'inner', parentId: from.id });
    const a = await protect(fx.alice, 'bulk-a.bin', randomBytes(10), 2);
    const b = await protect(fx.alice, 'bulk-b.bin', randomBytes(10), 2);
    const moved = await bulkAction(fx.alice, { action: 'move', files: [a, b, 'bad'], folders: [from.id, to.id], to: to.id });
    expect(moved.results.map((r) => (r.ok ? `${r.kind}:ok` : r.error.code))).toEqual(['file:ok', 'file:ok', 'NOT_FOUND', 'folder:ok', 'FOLDER_CYCLE']);
    const page = await listFolder(fx.alice, q({ parent: to.id }));
    expect(page.folders.map((f) => f.name)).toEqual(['bulk-from']);
    expect(page.files.map((f) => f.name)).toEqual(['bulk-a.bin', 'bulk-b.bin']);
    expect((await listFolder(fx.alice, q({ parent: inner.id }))).path.map((p) => p.name)).toEqual(['bulk-target', 'bulk-from', 'inner']);
    // Replayed: the same move again changes nothing and answers ok.
    expect((await bulkAction(fx.alice, { action: 'move', files: [a], to: to.id })).results[0]).toMatchObject({ ok: true });
    const trashed = await bulkAction(fx.alice, { action: 'trash', files: [a], folders: [from.id] });
    expect(trashed.results.every((r) => r.ok)).toBe(true);
    expect((await listFolder(fx.alice, q({ parent: to.id }))).files.map((f) => f.name)).toEqual(['bulk-b.bin']);
    // A replayed trash finds nothing left to trash.
    expect((await bulkAction(fx.alice, { action: 'trash', files: [a] })).results[0]).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const many = Array.from({ length: 10_000 }, () => randomBytes(16).toString('hex'));
    expect(await errorCode(bulkAction(fx.alice, { action: 'move', files: many, to: null }))).toBe('WRONG_VALUE');
    expect(await errorCode(bulkAction(fx.alice, { action: 'move', files: many.slice(0, MAX_BATCH_FILES + 1), to: null }))).toBe('WRONG_VALUE');
    expect(await errorCode(bulkAction(fx.alice, { action: 'copy', files: [b] }))).toBe('WRONG_VALUE');
    expect(await errorCode(bulkAction(fx.alice, { action: 'move', files: [b] }))).toBe('WRONG_VALUE');
    expect(await errorCode(bulkAction(fx.alice, { action: 'move', files: 'x', to: null }))).toBe('WRONG_VALUE');
    expect(await errorCode(bulkAction(fx.alice, { action: 'trash' }))).toBe('WRONG_VALUE');
  });
});
