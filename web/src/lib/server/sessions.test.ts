/**
 * Accounts and sessions at their edges (issue #24: Stryker on auth.ts): the user cap at exactly its
 * value, the words of each refusal, disabled accounts, the session lifetime to the millisecond, token
 * length limits, purging, and trusted-proxy accounts (the first is the admin, the name falls back to the
 * e-mail).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { sessions, users } from './db/schema.js';
import { SESSION_TTL_MS, countUsers, createSession, createUser, findUserByEmail, listUsers, login, logout, proxyUser, purgeExpiredSessions, sessionIdOf, sessionUser, setupAdmin } from './auth.js';

const refusal = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (err: unknown) => `${(err as { code?: string }).code}: ${(err as Error).message}`
  );

describeDatabases('accounts and sessions at their edges on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  beforeAll(async () => {
    database = await open();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('the first proxy account is the admin, the next ones users, named by e-mail when the proxy sends no name', async () => {
    const first = await proxyUser(database.db, 'first@proxy.test', 'First', 10);
    expect(first).toEqual({ id: expect.any(String), email: 'first@proxy.test', displayName: 'First', role: 'admin' });
    const second = await proxyUser(database.db, 'second@proxy.test', undefined, 10);
    expect(second).toMatchObject({ email: 'second@proxy.test', displayName: 'second@proxy.test', role: 'user' });
    expect(await proxyUser(database.db, 'second@proxy.test', 'Other name', 10)).toEqual(second);
    // Setup after accounts exist is refused, in its own words.
    expect(await refusal(setupAdmin(database.db, { email: 'late@x.test', displayName: 'L', password: 'long enough pw' }, 10))).toBe('SETUP_DONE: kofn is already set up.');
  });

  it('creates users up to exactly the cap, and names the cap when it refuses', async () => {
    const n = await countUsers(database.db);
    expect(n).toBe(2);
    const made = await createUser(database.db, { email: 'third@x.test', displayName: 'Third', password: 'third password', role: 'user', mustChangePassword: true }, 3);
    expect(made).toEqual({ id: expect.any(String), email: 'third@x.test', displayName: 'Third', role: 'user', mustChangePassword: true });
    expect(await refusal(createUser(database.db, { email: 'fourth@x.test', displayName: 'F', role: 'user' }, 3))).toBe('LICENSE_LIMIT: The licence allows 3 users.');
    expect(await refusal(createUser(database.db, { email: 'third@x.test', displayName: 'T', role: 'user' }, 10))).toBe('EMAIL_IN_USE: This e-mail address already has an account.');
    // Without a password there is no hash, and no password signs in.
    const nopw = await createUser(database.db, { email: 'nopw@x.test', displayName: 'N', role: 'user' }, 10);
    const [row] = await database.db.select().from(users).where(eq(users.id, nopw.id));
    expect(row!.passwordHash).toBeNull();
    expect(await refusal(login(database.db, 'nopw@x.test', '', '10.3.0.1'))).toBe('INVALID_CREDENTIALS: Wrong e-mail or password.');
  });

  it('a disabled account cannot sign in, is not found by e-mail, and its sessions stop working', async () => {
    const s = await login(database.db, 'third@x.test', 'third password', '10.4.0.1');
    expect((await sessionUser(database.db, s.token))?.user).toMatchObject({ email: 'third@x.test', mustChangePassword: true });
    await database.db.update(users).set({ disabled: true }).where(eq(users.email, 'third@x.test'));
    expect(await sessionUser(database.db, s.token)).toBeUndefined();
    expect(await findUserByEmail(database.db, 'third@x.test')).toBeUndefined();
    expect(await refusal(login(database.db, 'third@x.test', 'third password', '10.4.0.2'))).toBe('INVALID_CREDENTIALS: Wrong e-mail or password.');
    const listed = await listUsers(database.db);
    expect(listed.map((u) => [u.email, u.disabled])).toEqual([
      ['first@proxy.test', false],
      ['second@proxy.test', false],
      ['third@x.test', true],
      ['nopw@x.test', false]
    ]);
    expect(listed[0]!.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(listed.map((u) => u.twoStep)).toEqual([false, false, false, false]);
    await database.db.update(users).set({ disabled: false }).where(eq(users.email, 'third@x.test'));
  });

  it('a session lives exactly its lifetime, is stored only as its SHA-256, and is purged once expired', async () => {
    const user = (await findUserByEmail(database.db, 'first@proxy.test'))!;
    const t0 = new Date('2030-01-01T00:00:00Z');
    const s = await createSession(database.db, user, t0);
    expect(s.expiresAt.getTime()).toBe(t0.getTime() + SESSION_TTL_MS);
    expect(SESSION_TTL_MS).toBe(7 * 24 * 3600 * 1000);
    const [row] = await database.db
      .select()
      .from(sessions)
      .where(eq(sessions.id, sessionIdOf(s.token)));
    expect(row).toMatchObject({ userId: user.id, csrfToken: s.csrfToken });
    expect(sessionIdOf(s.token)).toMatch(/^[0-9a-f]{64}$/);
    expect(await database.db.select().from(sessions).where(eq(sessions.id, s.token))).toEqual([]);
    const last = new Date(s.expiresAt.getTime() - 1);
    expect((await sessionUser(database.db, s.token, last))?.user.id).toBe(user.id);
    expect(await sessionUser(database.db, s.token, s.expiresAt)).toBeUndefined();
    // Purge removes expired sessions only.
    await purgeExpiredSessions(database.db, last);
    expect((await sessionUser(database.db, s.token, last))?.user.id).toBe(user.id);
    await purgeExpiredSessions(database.db, new Date(s.expiresAt.getTime() + 1));
    expect(
      await database.db
        .select()
        .from(sessions)
        .where(eq(sessions.id, sessionIdOf(s.token)))
    ).toEqual([]);
  });

  it('reads a session token of up to 100 characters, and none longer; logout without a token does nothing', async () => {
    const user = (await findUserByEmail(database.db, 'first@proxy.test'))!;
    const now = new Date();
    // A stored session whose token is exactly 100 characters (as a proxy or an older build might make).
    const long = 'a'.repeat(100);
    await database.db.insert(sessions).values({ id: sessionIdOf(long), userId: user.id, csrfToken: 'c', createdAt: now, expiresAt: new Date(now.getTime() + 60_000) });
    expect((await sessionUser(database.db, long))?.user.id).toBe(user.id);
    const longer = 'a'.repeat(101);
    await database.db.insert(sessions).values({ id: sessionIdOf(longer), userId: user.id, csrfToken: 'c', createdAt: now, expiresAt: new Date(now.getTime() + 60_000) });
    expect(await sessionUser(database.db, longer)).toBeUndefined();
    expect(await sessionUser(database.db, '')).toBeUndefined();
    expect(await sessionUser(database.db, undefined)).toBeUndefined();
    const before = (await database.db.select().from(sessions)).length;
    await logout(database.db, undefined);
    await logout(database.db, '');
    expect((await database.db.select().from(sessions)).length).toBe(before);
    await logout(database.db, long);
    expect(await sessionUser(database.db, long)).toBeUndefined();
  });
});
