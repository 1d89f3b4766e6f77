/**
 * Personal API tokens (issues #19, #20) on PGlite and PostgreSQL: made with a name and an optional
 * expiry, the secret returned once and stored only as its SHA-256, listed by handle, revoked by their
 * owner only, refused once revoked or expired or when the account is disabled, capped per user even
 * under parallel creation, forgotten by maintenance once expired; history records creation and revocation.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import { errorCode as code } from './testing/file-services.js';
import type { Database } from './db/index.js';
import { apiTokens, history, users } from './db/schema.js';
import { createUser, type User } from './auth.js';
import { API_TOKEN_PREFIX, MAX_TOKENS_PER_USER, apiTokenUser, createApiToken, listApiTokens, purgeExpiredApiTokens, revokeApiToken } from './api-tokens.js';

describeDatabases('API tokens on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let alice: User;
  let bob: User;

  beforeAll(async () => {
    database = await open();
    alice = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'first password 1', role: 'user' }, 100);
    bob = await createUser(database.db, { email: 'bob@x.test', displayName: 'Bob', password: 'first password 1', role: 'user' }, 100);
  });
  afterAll(() => database.drop());

  it('a new token authenticates its owner; only its SHA-256 is stored; the list never shows the secret', async () => {
    const made = await createApiToken(database.db, alice, { name: ' backup script ', expiresInDays: 30 });
    expect(made.token).toMatch(/^kofn_pat_[A-Za-z0-9_-]{43}$/);
    expect(made.name).toBe('backup script');
    expect(made.handle).toMatch(/^[0-9a-f]{32}$/);
    expect(Date.parse(made.expiresAt!) - Date.parse(made.createdAt)).toBe(30 * 86_400_000);
    const rows = await database.db.select().from(apiTokens).where(eq(apiTokens.userId, alice.id));
    expect(rows.map((r) => r.id)).toEqual([createHash('sha256').update(made.token).digest('hex')]);
    expect(JSON.stringify(rows)).not.toContain(made.token.slice(API_TOKEN_PREFIX.length));
    const listed = await listApiTokens(database.db, alice.id);
    expect(listed).toEqual([{ handle: made.handle, name: 'backup script', createdAt: made.createdAt, expiresAt: made.expiresAt, lastUsedAt: null, scopes: ['read', 'write'] }]);
    expect(JSON.stringify(listed)).not.toContain(made.token);

    const who = await apiTokenUser(database.db, made.token);
    expect(who).toEqual({ id: alice.id, email: 'alice@x.test', displayName: 'Alice', role: 'user', scopes: ['read', 'write'] });
    expect((await listApiTokens(database.db, alice.id))[0]!.lastUsedAt).not.toBeNull();
    const ops = await database.db.select().from(history).where(eq(history.userId, alice.id));
    expect(ops.map((h) => [h.operation, h.fileName])).toContainEqual(['token_create', 'backup script']);
  });

  it('scopes are chosen at creation, listed, recorded and carried by the token; admin only for administrators', async () => {
    const made = await createApiToken(database.db, bob, { name: 'sharer', scopes: ['share', 'read'] });
    expect(made.scopes).toEqual(['read', 'share']);
    expect((await listApiTokens(database.db, bob.id)).find((t) => t.handle === made.handle)?.scopes).toEqual(['read', 'share']);
    expect((await apiTokenUser(database.db, made.token))?.scopes).toEqual(['read', 'share']);
    expect(await code(createApiToken(database.db, bob, { name: 'root', scopes: ['admin'] }))).toBe('FORBIDDEN');
    expect(await code(createApiToken(database.db, bob, { name: 'none', scopes: [] }))).toBe('WRONG_VALUE');
    expect(await code(createApiToken(database.db, bob, { name: 'odd', scopes: ['delete'] }))).toBe('WRONG_VALUE');
    const boss = await createUser(database.db, { email: 'boss@x.test', displayName: 'Boss', password: 'first password 1', role: 'admin' }, 100);
    expect((await createApiToken(database.db, boss, { name: 'ops', scopes: ['admin'] })).scopes).toEqual(['admin']);
    const said = await database.db.select().from(history).where(eq(history.userId, bob.id));
    expect(said.find((h) => h.fileName === 'sharer')?.detail).toBe('scopes read share; never expires');
    await revokeApiToken(database.db, bob, made.handle);
  });

  it('refuses malformed, unknown and one-character-off secrets', async () => {
    const made = await createApiToken(database.db, alice, { name: 'ci' });
    expect(made.expiresAt).toBeNull();
    const last = made.token.at(-1) === 'A' ? 'B' : 'A';
    for (const bad of ['', 'kofn_pat_', made.token.slice(0, -1), made.token.slice(0, -1) + last, made.token + 'A', made.token.replace('kofn_pat_', 'kofn_pot_'), 'x'.repeat(5000)]) {
      expect(await apiTokenUser(database.db, bad), bad.slice(0, 20)).toBeUndefined();
    }
    expect(await apiTokenUser(database.db, made.token)).toMatchObject({ id: alice.id, scopes: ['read', 'write'] });
  });

  it('names and expiries are checked: empty, too long, control characters, 0 days, fractions, strings', async () => {
    for (const input of [
      {},
      { name: '' },
      { name: '   ' },
      { name: 'x'.repeat(65) },
      { name: 'a\nb' },
      { name: 'ok', expiresInDays: 0 },
      { name: 'ok', expiresInDays: 1.5 },
      { name: 'ok', expiresInDays: '7' },
      { name: 'ok', expiresInDays: 3651 }
    ]) {
      expect(await code(createApiToken(database.db, bob, input)), JSON.stringify(input)).toBe('WRONG_VALUE');
    }
    expect(await listApiTokens(database.db, bob.id)).toEqual([]);
  });

  it('an expired token is refused and maintenance forgets it', async () => {
    const past = new Date(Date.now() - 3 * 86_400_000);
    const made = await createApiToken(database.db, bob, { name: 'short-lived', expiresInDays: 1 }, past);
    expect(await apiTokenUser(database.db, made.token, new Date(past.getTime() + 3_600_000))).toMatchObject({ id: bob.id });
    expect(await apiTokenUser(database.db, made.token)).toBeUndefined();
    expect(await purgeExpiredApiTokens(database.db)).toBeGreaterThanOrEqual(1);
    expect((await listApiTokens(database.db, bob.id)).map((t) => t.name)).not.toContain('short-lived');
  });

  it('only the owner revokes; a revoked token is refused at once; a second revoke is not found', async () => {
    const made = await createApiToken(database.db, bob, { name: 'to revoke' });
    expect(await code(revokeApiToken(database.db, alice, made.handle))).toBe('NOT_FOUND');
    expect(await apiTokenUser(database.db, made.token)).toMatchObject({ id: bob.id });
    for (const bad of ['', 'zz', made.handle.toUpperCase(), `${made.handle}0`, 42]) expect(await code(revokeApiToken(database.db, bob, bad))).toBe('NOT_FOUND');
    await revokeApiToken(database.db, bob, made.handle);
    expect(await apiTokenUser(database.db, made.token)).toBeUndefined();
    expect(await code(revokeApiToken(database.db, bob, made.handle))).toBe('NOT_FOUND');
    const ops = await database.db.select().from(history).where(eq(history.userId, bob.id));
    expect(ops.map((h) => [h.operation, h.fileName])).toContainEqual(['token_revoke', 'to revoke']);
  });

  it("a disabled account's tokens stop working, and work again when it is enabled", async () => {
    const carol = await createUser(database.db, { email: 'carol@x.test', displayName: 'Carol', password: 'first password 1', role: 'user' }, 100);
    const made = await createApiToken(database.db, carol, { name: 'laptop' });
    await database.db.update(users).set({ disabled: true }).where(eq(users.id, carol.id));
    expect(await apiTokenUser(database.db, made.token)).toBeUndefined();
    await database.db.update(users).set({ disabled: false }).where(eq(users.id, carol.id));
    expect((await apiTokenUser(database.db, made.token))?.id).toBe(carol.id);
  });

  it(`at most ${MAX_TOKENS_PER_USER} tokens per user, even when created in parallel`, async () => {
    const dave = await createUser(database.db, { email: 'dave@x.test', displayName: 'Dave', password: 'first password 1', role: 'user' }, 100);
    const results = await Promise.allSettled(Array.from({ length: MAX_TOKENS_PER_USER + 10 }, (_, i) => createApiToken(database.db, dave, { name: `t${i}` })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(MAX_TOKENS_PER_USER);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as { code?: string }).code).toBe('CONFLICT');
    expect(await listApiTokens(database.db, dave.id)).toHaveLength(MAX_TOKENS_PER_USER);
  });
});
