/**
 * Accounts, what Stryker's auth.ts run left alive (issue #24): the first-run setup's role, a trusted proxy's
 * empty Remote-Name, and the accounts lock (advisory lock 7101) that account creation and setup take inside
 * their transaction. The lock's effect needs two connections, which PGlite (Stryker's database) has not:
 * user-cap.test.ts shows it on PostgreSQL (65 parallel creations against a cap of 60); here the statements
 * are read through a logging view of the same connection (testing/logged-db.ts).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { users } from './db/schema.js';
import { createUser, proxyUser, setupAdmin } from './auth.js';
import { loggedDb } from './testing/logged-db.js';

const LOCK = 'select pg_advisory_xact_lock(7101)';

describeDatabases('accounts at their edges on $name', ({ name, open }) => {
  let database: Database & { drop: () => Promise<void> };
  beforeAll(async () => {
    database = await open();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('setup makes the first account an administrator, taking the accounts lock for itself and for the creation', async () => {
    const { db, statements } = loggedDb(database.db, name);
    const admin = await setupAdmin(db, { email: 'first@x.test', displayName: 'First', password: 'password 123' }, 10);
    expect(admin.role).toBe('admin');
    const [row] = await database.db.select().from(users).where(eq(users.email, 'first@x.test'));
    expect(row?.role).toBe('admin');
    expect(statements.filter((s) => s === LOCK)).toHaveLength(2);
  });

  it('creating an account takes the accounts lock before counting', async () => {
    const { db, statements } = loggedDb(database.db, name);
    await createUser(db, { email: 'second@x.test', displayName: 'Second', password: 'password 123', role: 'user' }, 10);
    const at = statements.indexOf(LOCK);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(statements.slice(at + 1).some((s) => s.startsWith('select count(*)::int'))).toBe(true);
  });

  it("a trusted proxy's user with an empty Remote-Name is named by their e-mail, and one without a name too", async () => {
    const empty = await proxyUser(database.db, 'empty-name@x.test', '', 10);
    expect(empty.displayName).toBe('empty-name@x.test');
    const none = await proxyUser(database.db, 'no-name@x.test', undefined, 10);
    expect(none.displayName).toBe('no-name@x.test');
    const named = await proxyUser(database.db, 'named@x.test', 'Named Person', 10);
    expect(named.displayName).toBe('Named Person');
  });
});
