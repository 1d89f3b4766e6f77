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
import { apiTokens, files, grants, history, jobs, sessions, users } from './db/schema.js';
import { createSession, createUser, type User } from './auth.js';
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
