import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { users } from './db/schema.js';
import { createUser, login, logout, sessionUser, setupAdmin, createSession } from './auth.js';

const codeOf = async (p: Promise<unknown>): Promise<string | undefined> => {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
};

describeDatabases('accounts on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  beforeAll(async () => {
    database = await open();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('first-run setup creates exactly one admin, even when raced', async () => {
    const attempts = await Promise.allSettled([1, 2, 3].map((i) => setupAdmin(database.db, { email: `admin${i}@x.test`, displayName: 'A', password: 'long enough pw' }, 10)));
    expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
    expect(attempts.filter((a) => a.status === 'rejected').map((a) => (a.reason as { code?: string }).code)).toEqual(['SETUP_DONE', 'SETUP_DONE']);
    expect(await codeOf(setupAdmin(database.db, { email: 'late@x.test', displayName: 'L', password: 'long enough pw' }, 10))).toBe('SETUP_DONE');
  });

  it('stores argon2id hashes, never the password', async () => {
    const u = await createUser(database.db, { email: 'bob@x.test', displayName: 'Bob', password: 'bob password 1', role: 'user' }, 10);
    const [row] = await database.db.select().from(users).where(eq(users.id, u.id));
    expect(row?.passwordHash).toMatch(/^\$argon2id\$v=19\$/);
    expect(row?.passwordHash).not.toContain('bob password 1');
  });

  it('refuses a second account with the same e-mail and users past the licence', async () => {
    expect(await codeOf(createUser(database.db, { email: 'bob@x.test', displayName: 'B2', password: 'whatever pw 1', role: 'user' }, 10))).toBe('EMAIL_IN_USE');
    expect(await codeOf(createUser(database.db, { email: 'carol@x.test', displayName: 'C', password: 'whatever pw 1', role: 'user' }, 2))).toBe('LICENSE_LIMIT');
  });

  it('signs in with the right password, and sessions end at logout', async () => {
    const s = await login(database.db, 'bob@x.test', 'bob password 1', '10.0.0.1');
    expect(s.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const seen = await sessionUser(database.db, s.token);
    expect(seen?.user.email).toBe('bob@x.test');
    expect(seen?.csrfToken).toBe(s.csrfToken);
    await logout(database.db, s.token);
    expect(await sessionUser(database.db, s.token)).toBeUndefined();
  });

  it('answers the same error for an unknown e-mail and a wrong password', async () => {
    expect(await codeOf(login(database.db, 'nobody@x.test', 'bob password 1', '10.0.0.2'))).toBe('INVALID_CREDENTIALS');
    expect(await codeOf(login(database.db, 'bob@x.test', 'wrong password', '10.0.0.2'))).toBe('INVALID_CREDENTIALS');
  });

  it('failures from other addresses never block the right password from a new one (issue #13 item 7)', async () => {
    for (let i = 0; i < 10; i++) await codeOf(login(database.db, 'bob@x.test', `wrong ${i}`, `10.1.0.${i}`));
    for (let i = 0; i < 20; i++) await codeOf(login(database.db, 'bob@x.test', `wrong ${i}`, '10.2.0.1'));
    expect((await login(database.db, 'bob@x.test', 'bob password 1', '10.9.9.9')).user.email).toBe('bob@x.test');
  });

  it('ignores expired, forged and oversized session tokens', async () => {
    const [bob] = await database.db.select().from(users).where(eq(users.email, 'bob@x.test'));
    const old = await createSession(database.db, { id: bob!.id, email: bob!.email, displayName: bob!.displayName, role: bob!.role }, new Date(Date.now() - 8 * 86_400_000));
    expect(await sessionUser(database.db, old.token)).toBeUndefined();
    expect(await sessionUser(database.db, 'forged-token')).toBeUndefined();
    expect(await sessionUser(database.db, 'x'.repeat(5000))).toBeUndefined();
    expect(await sessionUser(database.db, "' or 1=1 --")).toBeUndefined();
  });
});
