/**
 * The trash (trash.ts; issue #18) on PGlite and PostgreSQL with real relays: Remove moves to the trash
 * (out of every list and file route, still counted against the quota, hidden from grantees), restore (to
 * where it was, or the root; free names), emptying and the automatic purge through the durable
 * delete-file jobs (shares really leave the relays), a worker crashing mid-purge, bad input and replays.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { and, eq, inArray } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import { files, folders, jobs } from './db/schema.js';
import { listFiles, manifest, sharedWithMe } from './files.js';
import { createFolder, listFolder, updateFolder } from './folders.js';
import { emptyTrash, listTrash, purgeTrash, restore, trashFile, trashFolder } from './trash.js';
import { changeGrants } from './grants.js';
import { claim, runOne } from './jobs.js';
import { jobHandlers, runMaintenance } from './maintenance.js';
import { heldBytes, ownProtectedBytes } from './usage.js';
import { loadConfig } from './config.js';
import type { TestRelay } from './testing/relays.js';
import { protect, retrieve } from './testing/protect.js';
import { errorCode, useFileServices } from './testing/file-services.js';

const q = (o: Record<string, string> = {}) => new URLSearchParams(o);
const DAY = 86_400_000;

describeDatabases('trash on $name', ({ open }) => {
  const fx = useFileServices(open);
  const chunkDir = (r: TestRelay, fileId: string) => join(r.dataDir, 'chunks', fileId.slice(0, 2), fileId);
  /** Runs due jobs until none is left (bounded). */
  const drainJobs = async () => {
    const handlers = jobHandlers(fx.database.db, fx.alice.key);
    for (let i = 0; i < 200 && (await runOne(fx.database.db, 'test', handlers)); i++);
  };

  it('moves a removed file to the trash: gone from lists and file routes, still on the quota, restorable', async () => {
    const data = randomBytes(5000);
    const id = await protect(fx.alice, 'undo-me.bin', data, 2);
    await changeGrants(fx.alice, { action: 'add_read', emails: ['bob@x.test'], fileIds: [id] });
    const held = await heldBytes(fx.database.db);
    const own = await ownProtectedBytes(fx.database.db, fx.alice.user.id);
    expect(await trashFile(fx.alice, id)).toEqual({ fileId: id, status: 'trashed' });
    expect((await listFiles(fx.alice)).some((f) => f.id === id)).toBe(false);
    expect((await listFolder(fx.alice, q())).files.some((f) => f.id === id)).toBe(false);
    expect(await errorCode(manifest(fx.alice, id))).toBe('NOT_FOUND');
    // The grantee loses sight of it while it is in the trash.
    expect((await sharedWithMe(fx.bob)).some((f) => f.id === id)).toBe(false);
    expect(await errorCode(manifest(fx.bob, id))).toBe('NOT_FOUND');
    // Still counted until purged (issue #18), and its name is free for a new file meanwhile.
    expect(await heldBytes(fx.database.db)).toBe(held);
    expect(await ownProtectedBytes(fx.database.db, fx.alice.user.id)).toBe(own);
    const trash = await listTrash(fx.alice, q());
    const item = trash.items.find((i) => i.id === id)!;
    expect(item).toMatchObject({ kind: 'file', name: 'undo-me.bin', size: 5000 });
    expect(Date.parse(item.purgeAt) - Date.parse(item.trashedAt)).toBe(30 * DAY);
    // Replayed remove, another user's restore, bad ids: the same NOT_FOUND, nothing changes.
    expect(await errorCode(trashFile(fx.alice, id))).toBe('NOT_FOUND');
    expect((await restore(fx.bob, { files: [id] })).results[0]).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect((await restore(fx.alice, { files: ['zz'], folders: ['../x'] })).results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['NOT_FOUND', 'NOT_FOUND']);
    expect((await restore(fx.alice, { files: [id] })).results[0]).toEqual({ ok: true, kind: 'file', id });
    expect((await restore(fx.alice, { files: [id] })).results[0]).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(Buffer.from(await retrieve(fx.alice, id)).equals(data)).toBe(true);
    expect((await sharedWithMe(fx.bob)).some((f) => f.id === id)).toBe(true);
  });

  it('trashes a folder with everything under it and restores it whole; an item whose folder is gone comes back to the root', async () => {
    const top = await createFolder(fx.alice, { path: 'album/2024/june' });
    const album = (await listFolder(fx.alice, q({ parent: top.id }))).path[0]!;
    const inJune = await protect(fx.alice, 'june.jpg', randomBytes(700), 2, undefined, { folderId: top.id });
    const loose = await protect(fx.alice, 'loose.jpg', randomBytes(300), 2, undefined, { folderId: album.id });
    // loose.jpg is trashed on its own first, then the whole album.
    await trashFile(fx.alice, loose);
    expect(await trashFolder(fx.alice, album.id)).toEqual({ folderId: album.id, status: 'trashed' });
    expect((await listFolder(fx.alice, q())).folders.some((f) => f.id === album.id)).toBe(false);
    expect(await errorCode(listFolder(fx.alice, q({ parent: top.id })))).toBe('NOT_FOUND');
    expect(await errorCode(createFolder(fx.alice, { name: 'x', parentId: top.id }))).toBe('NOT_FOUND');
    expect(await errorCode(trashFolder(fx.alice, album.id))).toBe('NOT_FOUND');
    expect(await errorCode(trashFolder(fx.bob, top.id))).toBe('NOT_FOUND');
    expect(await errorCode(trashFolder(fx.alice, 'root'))).toBe('WRONG_VALUE');
    const trash = await listTrash(fx.alice, q());
    expect(trash.items.find((i) => i.id === album.id)).toMatchObject({ kind: 'folder', name: 'album', size: 700 });
    // A new "album" meanwhile: the restored one comes back as "album (2)", with its whole tree.
    await createFolder(fx.alice, { name: 'album' });
    // loose.jpg's folder is in the trash: it comes back to the root.
    expect((await restore(fx.alice, { files: [loose] })).results[0]).toMatchObject({ ok: true });
    expect((await listFolder(fx.alice, q())).files.some((f) => f.id === loose)).toBe(true);
    expect((await restore(fx.alice, { folders: [album.id] })).results[0]).toMatchObject({ ok: true, kind: 'folder' });
    const back = await listFolder(fx.alice, q({ parent: top.id }));
    expect(back.path.map((p) => p.name)).toEqual(['album (2)', '2024', 'june']);
    expect(back.files.map((f) => f.id)).toEqual([inJune]);
  });

  it('empties the trash: files deleting, shares deleted from every relay by durable jobs, quota freed, folders gone', async () => {
    const dir = await createFolder(fx.alice, { name: 'to-empty' });
    const a = await protect(fx.alice, 'gone-a.bin', randomBytes(2000), 2, undefined, { folderId: dir.id });
    const b = await protect(fx.alice, 'gone-b.bin', randomBytes(3000), 2);
    await trashFolder(fx.alice, dir.id);
    await trashFile(fx.alice, b);
    const held = await heldBytes(fx.database.db);
    // Everything earlier tests trashed was restored: exactly these two files and one folder go.
    expect(await emptyTrash(fx.alice)).toEqual({ files: 2, folders: 1 });
    expect(await heldBytes(fx.database.db)).toBe(held - 5000);
    expect((await listTrash(fx.alice, q())).items).toEqual([]);
    expect(await fx.database.db.select().from(folders).where(eq(folders.id, dir.id))).toEqual([]);
    const queued = await fx.database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, 'delete-file'), inArray(jobs.key, [a, b])));
    expect(queued).toHaveLength(2);
    await drainJobs();
    const rows = await fx.database.db
      .select()
      .from(files)
      .where(inArray(files.id, [a, b]));
    expect(rows.map((r) => r.status)).toEqual(['deleted', 'deleted']);
    for (const r of fx.relays) for (const id of [a, b]) expect(() => readdirSync(chunkDir(r, id))).toThrow(/ENOENT/);
    // Replayed: nothing left to empty.
    expect(await emptyTrash(fx.alice)).toEqual({ files: 0, folders: 0 });
    expect(await errorCode(manifest(fx.alice, a))).toBe('NOT_FOUND');
  });

  it('purges automatically after the configured period (default 30 days), through the jobs, surviving a worker crash', async () => {
    expect(loadConfig({}).trashMs).toBe(30 * DAY);
    expect(loadConfig({ KOFN_TRASH_DAYS: '7' }).trashMs).toBe(7 * DAY);
    expect(loadConfig({ KOFN_TRASH_DAYS: 'never' }).trashMs).toBe(30 * DAY);
    const id = await protect(fx.alice, 'old.bin', randomBytes(1500), 2);
    const dir = await createFolder(fx.alice, { name: 'old-folder' });
    const t0 = new Date();
    await trashFile(fx.alice, id, t0);
    await trashFolder(fx.alice, dir.id, t0);
    // 29 days later: nothing purged.
    await runMaintenance(fx.database.db, 3600_000, new Date(t0.getTime() + 29 * DAY), 30 * DAY);
    expect((await listTrash(fx.alice, q())).items.map((i) => i.id)).toEqual(expect.arrayContaining([id, dir.id]));
    // 31 days later: the maintenance run purges both.
    await runMaintenance(fx.database.db, 3600_000, new Date(t0.getTime() + 31 * DAY), 30 * DAY);
    expect((await listTrash(fx.alice, q())).items.map((i) => i.id)).not.toContain(id);
    expect(await fx.database.db.select().from(folders).where(eq(folders.id, dir.id))).toEqual([]);
    // A worker claims the deletion and dies (its lease runs out): another worker takes it over and finishes.
    const [job] = await fx.database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, 'delete-file'), eq(jobs.key, id)));
    expect(job?.status).toBe('pending');
    await fx.database.db
      .update(jobs)
      .set({ runAfter: new Date(0) })
      .where(eq(jobs.id, job!.id));
    let crashed = await claim(fx.database.db, 'crashed-worker', 1);
    while (crashed && crashed.id !== job!.id) crashed = await claim(fx.database.db, 'crashed-worker', 1);
    expect(crashed?.id).toBe(job!.id);
    await new Promise((r) => setTimeout(r, 20));
    await drainJobs();
    const [row] = await fx.database.db.select().from(files).where(eq(files.id, id));
    expect(row?.status).toBe('deleted');
    for (const r of fx.relays) expect(() => readdirSync(chunkDir(r, id))).toThrow(/ENOENT/);
    // Purging again finds nothing: the purge is idempotent.
    expect(await purgeTrash(fx.database.db, 30 * DAY, new Date(t0.getTime() + 40 * DAY))).toEqual({ files: 0, folders: 0 });
  });

  it('pages the trash by cursor and refuses bad input', async () => {
    const ids: string[] = [];
    const base = Date.now();
    for (let i = 0; i < 5; i++) {
      const d = await createFolder(fx.alice, { name: `paged-${i}` });
      await trashFolder(fx.alice, d.id, new Date(base + i * 1000));
      ids.push(d.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await listTrash(fx.alice, q({ limit: '2', ...(cursor ? { cursor } : {}) }));
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.filter((s) => ids.includes(s))).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);
    expect(await errorCode(listTrash(fx.alice, q({ cursor: 'garbage' })))).toBe('WRONG_VALUE');
    expect(await errorCode(listTrash(fx.alice, q({ limit: '-1' })))).toBe('WRONG_VALUE');
    expect(await errorCode(restore(fx.alice, {}))).toBe('WRONG_VALUE');
    expect(await errorCode(restore(fx.alice, { files: 'x' }))).toBe('WRONG_VALUE');
    expect(await errorCode(restore(fx.alice, { files: Array.from({ length: 10_000 }, () => 'a'.repeat(32)) }))).toBe('WRONG_VALUE');
    // Restoring into a parent that moved deeper meanwhile still keeps the tree whole.
    const p = await createFolder(fx.alice, { name: 'restore-parent' });
    const c = await createFolder(fx.alice, { name: 'child', parentId: p.id });
    await trashFolder(fx.alice, c.id);
    await updateFolder(fx.alice, p.id, { name: 'restore-parent-renamed' });
    expect((await restore(fx.alice, { folders: [c.id] })).results[0]).toMatchObject({ ok: true });
    expect((await listFolder(fx.alice, q({ parent: c.id }))).path.map((x) => x.name)).toEqual(['restore-parent-renamed', 'child']);
  });
});
