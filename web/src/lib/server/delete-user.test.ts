/**
 * Deleting an account (issue #19) on PGlite and PostgreSQL: closed at once (disabled, sessions and API
 * tokens gone), its files start deleting through the same `delete-file` jobs a removal uses and lose their
 * grants; the account row goes only in the `delete-user` job once no file of it is left, taking its
 * history with it, and the e-mail is free again afterwards. Not oneself, never the last administrator,
 * unknown ids not found, a second delete harmless.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import { errorCode as code } from './testing/file-services.js';
import type { Database } from './db/index.js';
import { apiTokens, files, grants, history, jobs, sessions, shareLinks, users } from './db/schema.js';
import { countUsers, createSession, createUser, type User } from './auth.js';
import { deleteUser } from './accounts.js';
import { createApiToken } from './api-tokens.js';
import { jobHandlers } from './maintenance.js';
import { runOne } from './jobs.js';
import { ensureSigningKey } from './signing-keys.js';

describeDatabases('deleting an account on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let admin: User;
  const mk = (email: string, role: 'admin' | 'user' = 'user') => createUser(database.db, { email, displayName: email, password: 'first password 1', role }, 100);
  const fileOf = async (owner: User, name: string, status: 'available' | 'reserved') => {
    const id = randomBytes(16).toString('hex');
    await database.db.insert(files).values({ id, ownerId: owner.id, name, size: 1, type: 'application/octet-stream', k: 2, n: 3, chunkSize: 1, chunkCount: 1, status });
    return id;
  };

  beforeAll(async () => {
    database = await open();
    admin = await mk('root@x.test', 'admin');
  });
  afterAll(() => database.drop());

  it('closes the account at once, deletes its files through jobs, and removes the row only when they are gone', async () => {
    const eve = await mk('eve@x.test');
    const bob = await mk('bob@x.test');
    const kept = await fileOf(bob, 'bobs.bin', 'available');
    const a = await fileOf(eve, 'a.bin', 'available');
    const b = await fileOf(eve, 'b.bin', 'reserved');
    await database.db.insert(grants).values({ fileId: a, userId: bob.id });
    await createSession(database.db, eve);
    await createApiToken(database.db, eve, { name: 'eve script' });

    expect(await deleteUser(database.db, admin, eve.id)).toEqual({ deleting: true, files: 2 });
    const [row] = await database.db.select().from(users).where(eq(users.id, eve.id));
    expect(row?.disabled).toBe(true);
    expect(await database.db.select().from(sessions).where(eq(sessions.userId, eve.id))).toEqual([]);
    expect(await database.db.select().from(apiTokens).where(eq(apiTokens.userId, eve.id))).toEqual([]);
    expect(await database.db.select().from(grants).where(eq(grants.fileId, a))).toEqual([]);
    const statuses = await database.db.select({ id: files.id, status: files.status }).from(files).where(eq(files.ownerId, eve.id));
    expect(statuses.map((f) => f.status).sort()).toEqual(['deleting', 'deleting']);
    const queued = await database.db.select({ kind: jobs.kind, key: jobs.key }).from(jobs);
    expect(queued).toEqual(
      expect.arrayContaining([
        { kind: 'delete-file', key: a },
        { kind: 'delete-file', key: b },
        { kind: 'delete-user', key: eve.id }
      ])
    );

    // The account row waits for its files: run only the delete-user job first.
    const handlers = jobHandlers(database.db, await ensureSigningKey(database.db));
    expect(await code(handlers['delete-user']!({ userId: eve.id }, undefined as never))).toBe('UNAVAILABLE');
    expect(await database.db.select({ id: users.id }).from(users).where(eq(users.id, eve.id))).toHaveLength(1);

    // Then every job, as the scheduler would (these files have no shares on relays yet).
    while (await runOne(database.db, 'test', handlers)) {
      /* run until none is due */
    }
    expect(await database.db.select({ id: users.id }).from(users).where(eq(users.id, eve.id))).toEqual([]);
    expect(await database.db.select().from(files).where(eq(files.ownerId, eve.id))).toEqual([]);
    expect(await database.db.select().from(history).where(eq(history.userId, eve.id))).toEqual([]);
    // Bob's own file is untouched; the administrator's history says what happened.
    expect((await database.db.select({ status: files.status }).from(files).where(eq(files.id, kept)))[0]?.status).toBe('available');
    const said = await database.db.select().from(history).where(eq(history.userId, admin.id));
    expect(said.map((h) => h.detail)).toContain('eve@x.test: deleted (2 file(s) being deleted)');
    // The e-mail is free again.
    expect((await mk('eve@x.test')).email).toBe('eve@x.test');
  });

  it('transfers the files to another account when the administrator chooses so; the row and the user count follow', async () => {
    const ann = await mk('ann@x.test');
    const ben = await mk('ben@x.test');
    const cat = await mk('cat@x.test');
    const kept = await fileOf(ann, 'plan.pdf', 'available');
    const clash = await fileOf(ann, 'same.txt', 'available');
    const partial = await fileOf(ann, 'upload.bin', 'reserved');
    const bens = await fileOf(ben, 'same.txt', 'available');
    await database.db.insert(grants).values([
      { fileId: kept, userId: cat.id },
      { fileId: kept, userId: ben.id }
    ]);
    await database.db.insert(shareLinks).values({ id: 'link-of-ann', fileId: kept, ownerId: ann.id, publicKey: 'x'.repeat(43), passwordProtected: false, expiresAt: new Date(Date.now() + 3_600_000) });
    await createSession(database.db, ann);
    await createApiToken(database.db, ann, { name: 'ann script' });
    const before = await countUsers(database.db);

    expect(await deleteUser(database.db, admin, ann.id, { files: 'transfer', to: ben.id })).toEqual({ deleting: true, files: 1, transferred: 2, to: 'ben@x.test' });
    const owned = await database.db.select({ id: files.id, name: files.name, status: files.status }).from(files).where(eq(files.ownerId, ben.id));
    expect(owned.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { id: kept, name: 'plan.pdf', status: 'available' },
      { id: bens, name: 'same.txt', status: 'available' },
      { id: clash, name: 'same.txt (from ann@x.test)', status: 'available' }
    ]);
    // Cat keeps her grant; Ben's own grant goes (he owns the file); the unfinished upload is deleted.
    expect((await database.db.select({ userId: grants.userId }).from(grants).where(eq(grants.fileId, kept))).map((g) => g.userId)).toEqual([cat.id]);
    expect((await database.db.select({ status: files.status }).from(files).where(eq(files.id, partial)))[0]?.status).toBe('deleting');
    expect(await database.db.select().from(shareLinks).where(eq(shareLinks.ownerId, ann.id))).toEqual([]);
    expect(await database.db.select().from(sessions).where(eq(sessions.userId, ann.id))).toEqual([]);
    expect(await database.db.select().from(apiTokens).where(eq(apiTokens.userId, ann.id))).toEqual([]);
    expect((await database.db.select({ detail: history.detail }).from(history).where(eq(history.userId, ben.id))).map((h) => h.detail)).toContain(
      '2 file(s) of ann@x.test transferred to you by an administrator'
    );

    const handlers = jobHandlers(database.db, await ensureSigningKey(database.db));
    while (await runOne(database.db, 'test', handlers)) {
      /* run until none is due */
    }
    expect(await database.db.select({ id: users.id }).from(users).where(eq(users.id, ann.id))).toEqual([]);
    expect(await countUsers(database.db)).toBe(before - 1);
    // The transferred files outlive their former owner.
    expect((await database.db.select({ status: files.status }).from(files).where(eq(files.id, kept)))[0]?.status).toBe('available');
  });

  it('a transfer needs an enabled recipient other than the account deleted; the choice is checked', async () => {
    const dan = await mk('dan@x.test');
    const off = await mk('off@x.test');
    await database.db.update(users).set({ disabled: true }).where(eq(users.id, off.id));
    expect(await code(deleteUser(database.db, admin, dan.id, { files: 'transfer', to: off.id }))).toBe('NOT_FOUND');
    expect(await code(deleteUser(database.db, admin, dan.id, { files: 'transfer', to: '00000000-0000-0000-0000-000000000000' }))).toBe('NOT_FOUND');
    expect(await code(deleteUser(database.db, admin, dan.id, { files: 'transfer', to: dan.id }))).toBe('WRONG_VALUE');
    for (const bad of [{ files: 'transfer' }, { files: 'transfer', to: 'x' }, { files: 'keep' }, { files: 'delete', to: off.id }, { files: ['delete'] }]) {
      expect(await code(deleteUser(database.db, admin, dan.id, bad)), JSON.stringify(bad)).toBe('WRONG_VALUE');
    }
    // Nothing happened to Dan on the way.
    expect((await database.db.select({ disabled: users.disabled }).from(users).where(eq(users.id, dan.id)))[0]?.disabled).toBe(false);
  });

  it('refuses oneself, the last administrator, unknown and malformed ids', async () => {
    expect(await code(deleteUser(database.db, admin, admin.id))).toBe('FORBIDDEN');
    const other = await mk('second-admin@x.test', 'admin');
    // Two enabled administrators: one may delete the other, but not the last one standing.
    await deleteUser(database.db, admin, other.id);
    const third = await mk('third@x.test', 'admin');
    expect(await code(deleteUser(database.db, third, admin.id))).toBeUndefined();
    expect(await code(deleteUser(database.db, admin, third.id))).toBe('LAST_ADMIN');
    for (const bad of ['00000000-0000-0000-0000-000000000000', 'x', 42, undefined]) expect(await code(deleteUser(database.db, admin, bad))).toBe('NOT_FOUND');
  });

  it('a second delete of an account being deleted is harmless', async () => {
    const zed = await mk('zed@x.test');
    await deleteUser(database.db, admin, zed.id);
    expect(await deleteUser(database.db, admin, zed.id)).toEqual({ deleting: true, files: 0 });
    expect(await database.db.select().from(jobs).where(eq(jobs.key, zed.id))).toHaveLength(1);
  });
});
