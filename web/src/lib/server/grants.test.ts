/**
 * Issue #13, item 11: granting read access answers the same whether or not the e-mail has an account,
 * "shared by me" lists both the same way, and a share with an e-mail that has no account yet becomes a
 * real grant when that account is created. PGlite and PostgreSQL, real relay processes.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { grants } from './db/schema.js';
import { createUser, proxyUser, type User } from './auth.js';
import { ensureSigningKey } from './signing-keys.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import { manifest, removeFile, sharedWithMe } from './files.js';
import type { Ctx } from './file-access.js';
import { changeGrants, sharedByMe } from './grants.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect, retrieve } from './testing/protect.js';
import { loggedDb } from './testing/logged-db.js';

const code = async (p: Promise<unknown>): Promise<string | undefined> => {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
};

describeDatabases('grants on $name', ({ name, open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let alice: Ctx;
  let bob: Ctx;
  let ctxOf: (user: User) => Ctx;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, users: 100 } };

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 2);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    ctxOf = (user) => ({ db: database.db, user, license, key, config });
    const mk = (email: string) => createUser(database.db, { email, displayName: `Name of ${email}`, password: 'password 123', role: 'user' }, 100);
    alice = ctxOf(await mk('alice@x.test'));
    bob = ctxOf(await mk('bob@x.test'));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await database.drop();
  });

  it('answers the same for an e-mail with and without an account, adding and revoking', async () => {
    const fileId = await protect(alice, 'uniform.bin', randomBytes(300), 2);
    for (const action of ['add_read', 'revoke_read', 'add_read']) {
      const known = await changeGrants(alice, { action, emails: ['bob@x.test'], fileIds: [fileId] });
      const unknown = await changeGrants(alice, { action, emails: ['nobody@x.test'], fileIds: [fileId] });
      expect(unknown).toEqual({ ...known, emails: ['nobody@x.test'] });
      expect(known).toEqual({ action, files: [fileId], emails: ['bob@x.test'] });
    }
    // Upper-case and repeated spellings change nothing either.
    expect(await changeGrants(alice, { action: 'add_read', emails: ['NoBody@X.test', 'nobody@x.test'], fileIds: [fileId] })).toEqual({
      action: 'add_read',
      files: [fileId],
      emails: ['nobody@x.test']
    });
    // Only the existing account got a grant row; the other is pending.
    expect((await database.db.select().from(grants).where(eq(grants.fileId, fileId))).map((g) => g.userId)).toEqual([bob.user.id]);
    expect((await sharedWithMe(bob)).map((f) => f.id)).toContain(fileId);
  });

  it('"shared by me" lists e-mails with and without accounts alike, with no display names', async () => {
    const fileId = await protect(alice, 'listed.bin', randomBytes(10), 2);
    await changeGrants(alice, { action: 'add_read', emails: ['bob@x.test', 'ghost@x.test'], fileIds: [fileId] });
    const entry = (await sharedByMe(alice)).find((f) => f.fileId === fileId);
    expect(entry?.grantees.map((g) => g.email)).toEqual(['bob@x.test', 'ghost@x.test']);
    for (const g of entry!.grantees) expect(Object.keys(g).sort()).toEqual(['email', 'since']);
    expect(JSON.stringify(entry)).not.toContain('Name of');
    await changeGrants(alice, { action: 'revoke_read', emails: ['bob@x.test', 'ghost@x.test'], fileIds: [fileId] });
    expect((await sharedByMe(alice)).find((f) => f.fileId === fileId)).toBeUndefined();
  });

  it('"since" moves the same way on a repeated share, and does not move when the account is created', async () => {
    const fileId = await protect(alice, 'since.bin', randomBytes(10), 2);
    const sinceOf = async () => {
      const entry = (await sharedByMe(alice)).find((f) => f.fileId === fileId)!;
      return Object.fromEntries(entry.grantees.map((g) => [g.email, g.since]));
    };
    await changeGrants(alice, { action: 'add_read', emails: ['bob@x.test', 'erin@x.test'], fileIds: [fileId] });
    const first = await sinceOf();
    await new Promise((r) => setTimeout(r, 20));
    await changeGrants(alice, { action: 'add_read', emails: ['bob@x.test', 'erin@x.test'], fileIds: [fileId] });
    const second = await sinceOf();
    expect(second['bob@x.test']! > first['bob@x.test']!).toBe(true);
    expect(second['erin@x.test']! > first['erin@x.test']!).toBe(true);
    await createUser(database.db, { email: 'erin@x.test', displayName: 'Erin', password: 'password 123', role: 'user' }, 100);
    expect(await sinceOf()).toEqual(second);
  });

  it('a share with an e-mail that has no account becomes a grant when the account is created', async () => {
    const data = randomBytes(4000);
    const shared = await protect(alice, 'for-carol.bin', data, 2);
    const revoked = await protect(alice, 'revoked-before.bin', randomBytes(10), 2);
    const removed = await protect(alice, 'removed-before.bin', randomBytes(10), 2);
    await changeGrants(alice, { action: 'add_read', emails: ['carol@x.test'], fileIds: [shared, revoked, removed] });
    await changeGrants(alice, { action: 'revoke_read', emails: ['carol@x.test'], fileIds: [revoked] });
    await removeFile(alice, removed);
    const carol = ctxOf(await createUser(database.db, { email: 'carol@x.test', displayName: 'Carol', password: 'password 123', role: 'user' }, 100));
    expect((await sharedWithMe(carol)).map((f) => f.id)).toEqual([shared]);
    expect(Buffer.from(await retrieve(carol, shared)).equals(data)).toBe(true);
    expect(await code(manifest(carol, revoked))).toBe('NOT_FOUND');
    // Accounts made by the trusted proxy header claim theirs the same way.
    await changeGrants(alice, { action: 'add_read', emails: ['dora@x.test'], fileIds: [shared] });
    const dora = ctxOf(await proxyUser(database.db, 'dora@x.test', 'Dora', 100));
    expect((await sharedWithMe(dora)).map((f) => f.id)).toEqual([shared]);
  });

  it("a pending share only ever comes from the file's owner", async () => {
    const fileId = await protect(alice, 'not-bobs.bin', randomBytes(10), 2);
    expect(await code(changeGrants(bob, { action: 'add_read', emails: ['mallory@x.test'], fileIds: [fileId] }))).toBe('NOT_FOUND');
    const mallory = ctxOf(await createUser(database.db, { email: 'mallory@x.test', displayName: 'M', password: 'password 123', role: 'user' }, 100));
    expect(await code(manifest(mallory, fileId))).toBe('NOT_FOUND');
    expect(await sharedWithMe(mallory)).toEqual([]);
  });

  it('sends the same statements with and without an account', async () => {
    // What makes the answer take the same time, shown without a clock: the old code answered an unknown
    // e-mail after one query of the three (file lookup, INSERT ... SELECT, history row).
    const fileId = await protect(alice, 'statements.bin', randomBytes(10), 2);
    const { db: logged, statements } = loggedDb(database.db, name);
    const sent = async (email: string) => {
      statements.length = 0;
      await changeGrants({ ...alice, db: logged }, { action: 'add_read', emails: [email], fileIds: [fileId] });
      return [...statements];
    };
    const known = await sent('bob@x.test');
    expect(known.length).toBe(3);
    expect(await sent('nobody-statements@x.test')).toEqual(known);
  });

  it('takes about the same time with and without an account', async () => {
    const fileId = await protect(alice, 'timing.bin', randomBytes(10), 2);
    const known: number[] = [];
    const unknown: number[] = [];
    const time = async (email: string) => {
      const t = performance.now();
      await changeGrants(alice, { action: 'add_read', emails: [email], fileIds: [fileId] });
      return performance.now() - t;
    };
    for (let i = 0; i < 25; i++) {
      known.push(await time('bob@x.test'));
      unknown.push(await time(`nobody-${i}@x.test`));
    }
    // Compared by their fastest samples: a loaded machine only ever adds time, so the minimum of 25
    // interleaved samples is the work itself. Lower quartiles once differed twofold (15 ms) at a load of 30
    // to 50 in a CI run; the old code's unknown e-mail took a third of the time (one query of three), which
    // this bound still catches, and the test above pins the statements themselves.
    const [k, u] = [Math.min(...known), Math.min(...unknown)];
    expect(Math.abs(k - u)).toBeLessThan(Math.max(5, 0.5 * Math.max(k, u)));
  });
});
