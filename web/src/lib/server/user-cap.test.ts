/**
 * Issue #13 item 8c: the licence's user cap holds under parallel account creation, on PGlite and
 * PostgreSQL (before the fix, count and insert were separate statements and 65 parallel creations
 * against a cap of 60 all passed the count).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { eq } from 'drizzle-orm';
import { users } from './db/schema.js';
import { countUsers, createUser, proxyUser } from './auth.js';

describeDatabases('user cap on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  beforeAll(async () => {
    database = await open();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('trusted-proxy mode: ten parallel first requests make exactly one admin', async () => {
    await Promise.all(Array.from({ length: 10 }, (_, i) => proxyUser(database.db, `first${i}@cap.test`, undefined, 100)));
    expect(await database.db.select({ id: users.id }).from(users).where(eq(users.role, 'admin'))).toHaveLength(1);
    expect(await countUsers(database.db)).toBe(10);
    await database.db.delete(users);
  });

  it('65 parallel creations against a cap of 60 leave exactly 60 users, the rest refused with LICENSE_LIMIT', async () => {
    const cap = 60;
    const attempts = await Promise.allSettled(
      Array.from({ length: 65 }, (_, i) =>
        // A few with passwords (hashed before the lock), most as the trusted proxy creates them.
        i % 13 === 0
          ? createUser(database.db, { email: `u${i}@cap.test`, displayName: `U${i}`, password: 'long enough pw', role: 'user' }, cap)
          : i % 2 === 0
            ? proxyUser(database.db, `u${i}@cap.test`, `U${i}`, cap)
            : createUser(database.db, { email: `u${i}@cap.test`, displayName: `U${i}`, role: 'user' }, cap)
      )
    );
    expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(cap);
    const refused = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected').map((a) => (a.reason as { code?: string }).code);
    expect(refused).toEqual(['LICENSE_LIMIT', 'LICENSE_LIMIT', 'LICENSE_LIMIT', 'LICENSE_LIMIT', 'LICENSE_LIMIT']);
    expect(await countUsers(database.db)).toBe(cap);
    // At the cap, one more is refused.
    expect(await createUser(database.db, { email: 'late@cap.test', displayName: 'L', role: 'user' }, cap).catch((e: unknown) => (e as { code?: string }).code)).toBe('LICENSE_LIMIT');
    expect(await countUsers(database.db)).toBe(cap);
  });
});
