/**
 * Grants at their edges (issue #24: Stryker on grants.ts): the request limits at exactly their values,
 * files that are not the caller's or not available, the owner's own address, revocation, the history
 * rows that make pending grants, and the order of "shared by me". The grant logic reads only the files
 * table, so file rows are written straight into it (available, as a commit leaves them); grants.test.ts
 * covers the same paths with files protected through real relays.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { files, grants, history, users } from './db/schema.js';
import { createUser, type User } from './auth.js';
import { loadConfig } from './config.js';
import { ensureSigningKey } from './signing-keys.js';
import { UNLICENSED, type License } from './license.js';
import type { Ctx } from './file-access.js';
import { changeGrants, grantEmails, sharedByMe } from './grants.js';

const refusal = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (err: unknown) => `${(err as { code?: string }).code}: ${(err as Error).message}`
  );

describeDatabases('grants at their edges on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let alice: Ctx;
  let bob: Ctx;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, users: 100 } };

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    const config = loadConfig({});
    const ctxOf = (user: User): Ctx => ({ db: database.db, user, license, key, config });
    const mk = (email: string) => createUser(database.db, { email, displayName: `Name of ${email}`, password: 'password 123', role: 'user' }, 100);
    alice = ctxOf(await mk('alice@x.test'));
    bob = ctxOf(await mk('bob@x.test'));
  });
  afterAll(async () => {
    await database.drop();
  });

  /** A file row as a commit leaves it. */
  async function file(owner: Ctx, name: string, status: 'available' | 'reserved' | 'deleting' = 'available'): Promise<string> {
    const id = randomBytes(16).toString('hex');
    await database.db.insert(files).values({ id, ownerId: owner.user.id, name, size: 10, type: '', k: 2, n: 2, chunkSize: 16, chunkCount: 1, status });
    return id;
  }
  const grantees = async (fileId: string) =>
    (await database.db.select({ email: users.email }).from(grants).innerJoin(users, eq(users.id, grants.userId)).where(eq(grants.fileId, fileId))).map((r) => r.email).sort();

  it('refuses a wrong action, and e-mail or file lists past their limits, naming the limits', async () => {
    const f = await file(alice, 'limits.txt');
    const limits = 'WRONG_VALUE: Wrong value supplied for field "emails/fileIds". Valid values are 1..100 e-mails and 1..1000 files.';
    expect(await refusal(changeGrants(alice, { action: 'write', email: 'bob@x.test', fileId: f }))).toBe(
      'WRONG_VALUE: Wrong value supplied for field "action". Valid values are add_read, revoke_read.'
    );
    expect(await refusal(changeGrants(alice, { action: 'add_read', emails: [], fileId: f }))).toBe(limits);
    expect(await refusal(changeGrants(alice, { action: 'add_read', email: 'bob@x.test', fileIds: [] }))).toBe(limits);
    const many = (n: number) => Array.from({ length: n }, (_, i) => `p${i}@x.test`);
    expect(await refusal(changeGrants(alice, { action: 'add_read', emails: many(101), fileId: f }))).toBe(limits);
    expect(await refusal(changeGrants(alice, { action: 'add_read', email: 'bob@x.test', fileIds: Array.from({ length: 1001 }, () => f) }))).toBe(limits);
    // Exactly at the limits: accepted (1000 copies of one id are one file).
    expect((await changeGrants(alice, { action: 'add_read', emails: many(100), fileId: f })).emails).toHaveLength(100);
    expect((await changeGrants(alice, { action: 'revoke_read', email: 'p0@x.test', fileIds: Array.from({ length: 1000 }, () => f) })).files).toEqual([f]);
  });

  it('grants nothing on a file that is not the caller\u2019s or not available (NOT_FOUND), and nothing at all when one is not', async () => {
    const mine = await file(alice, 'mine.txt');
    const theirs = await file(bob, 'theirs.txt');
    const reserved = await file(alice, 'reserved.txt', 'reserved');
    const deleting = await file(alice, 'deleting.txt', 'deleting');
    for (const other of [theirs, reserved, deleting]) {
      expect(await refusal(changeGrants(alice, { action: 'add_read', email: 'bob@x.test', fileIds: [mine, other] }))).toBe('NOT_FOUND: File not found on the servers.');
    }
    expect(await grantees(mine)).toEqual([]);
  });

  it('grants and revokes by e-mail, in any case, once per address, never to the owner', async () => {
    const f = await file(alice, 'shared.txt');
    const out = await changeGrants(alice, { action: 'add_read', emails: ['Bob@X.test', 'bob@x.test', 'alice@x.test'], fileId: f });
    expect(out).toEqual({ action: 'add_read', files: [f], emails: ['bob@x.test', 'alice@x.test'] });
    expect(await grantees(f)).toEqual(['bob@x.test']);
    const ops = await database.db
      .select()
      .from(history)
      .where(and(eq(history.fileId, f), eq(history.userId, alice.user.id)));
    expect(ops.map((h) => [h.operation, h.detail, h.result, h.fileName])).toEqual([['share', 'bob@x.test', 'ok', 'shared.txt']]);
    await changeGrants(alice, { action: 'revoke_read', email: 'bob@x.test', fileId: f });
    expect(await grantees(f)).toEqual([]);
    const after = await database.db
      .select()
      .from(history)
      .where(and(eq(history.fileId, f), eq(history.operation, 'revoke')));
    expect(after.map((h) => h.detail)).toEqual(['bob@x.test']);
  });

  it('a revoked pending share is not listed, and does not become a grant when the account appears', async () => {
    const f = await file(alice, 'pending.txt');
    await changeGrants(alice, { action: 'add_read', emails: ['later@x.test', 'never@x.test'], fileId: f });
    await changeGrants(alice, { action: 'revoke_read', email: 'never@x.test', fileId: f });
    const listed = (await sharedByMe(alice)).find((e) => e.fileId === f)!;
    expect(listed.grantees.map((g) => g.email)).toEqual(['later@x.test']);
    await createUser(database.db, { email: 'never@x.test', displayName: 'N', role: 'user' }, 100);
    await createUser(database.db, { email: 'later@x.test', displayName: 'L', role: 'user' }, 100);
    expect(await grantees(f)).toEqual(['later@x.test']);
  });

  it('"shared by me" lists files by name and their grantees by e-mail, with sizes and ISO times', async () => {
    const b = await file(alice, 'b-file.txt');
    const a = await file(alice, 'a-file.txt');
    await changeGrants(alice, { action: 'add_read', emails: ['zed@x.test', 'bob@x.test', 'amy@x.test'], fileIds: [b, a] });
    const list = (await sharedByMe(alice)).filter((e) => e.fileId === a || e.fileId === b);
    expect(list.map((e) => e.name)).toEqual(['a-file.txt', 'b-file.txt']);
    for (const e of list) {
      expect(e.size).toBe(10);
      expect(e.grantees.map((g) => g.email)).toEqual(['amy@x.test', 'bob@x.test', 'zed@x.test']);
      for (const g of e.grantees) expect(g.since).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    }
    // Bob's list has none of Alice's files.
    expect((await sharedByMe(bob)).filter((e) => e.fileId === a || e.fileId === b)).toEqual([]);
  });
});

// The e-mail list of a bulk share (bulk-actions.ts): the same limits and words as changeGrants, no database.
describe('grantEmails', () => {
  const refused = (input: Record<string, unknown>): string => {
    try {
      return JSON.stringify(grantEmails(input));
    } catch (err) {
      return `${(err as { code?: string }).code}: ${(err as Error).message}`;
    }
  };
  const many = (n: number) => Array.from({ length: n }, (_, i) => `p${i}@x.test`);

  it('takes one e-mail or a list, in any case, each address once', () => {
    expect(grantEmails({ email: 'Bob@X.test' })).toEqual(['bob@x.test']);
    expect(grantEmails({ emails: ['Bob@X.test', 'bob@x.test', 'amy@x.test'] })).toEqual(['bob@x.test', 'amy@x.test']);
    expect(grantEmails({ emails: many(100) })).toEqual(many(100));
  });

  it('refuses an empty list and more than 100 addresses, naming the limit', () => {
    const limits = 'WRONG_VALUE: Wrong value supplied for field "emails". Valid values are 1..100 e-mails.';
    expect(refused({ emails: [] })).toBe(limits);
    expect(refused({ emails: many(101) })).toBe(limits);
    expect(refused({})).toMatch(/^WRONG_VALUE: /);
  });
});
