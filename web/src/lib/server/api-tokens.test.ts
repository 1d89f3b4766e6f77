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
import { errorCode as code, errorMessage as message } from './testing/file-services.js';
import type { Database } from './db/index.js';
import { apiTokens, history, users } from './db/schema.js';
import { createUser, type User } from './auth.js';
import { API_TOKEN_PREFIX, MAX_TOKENS_PER_USER, MAX_TOKEN_DAYS, MAX_TOKEN_NAME, apiTokenUser, createApiToken, listApiTokens, purgeExpiredApiTokens, revokeApiToken } from './api-tokens.js';

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
    for (const bad of ['', 'zz', made.handle.toUpperCase(), `${made.handle}0`, 42, [made.handle], { toString: () => made.handle }]) {
      expect(await code(revokeApiToken(database.db, bob, bad))).toBe('NOT_FOUND');
    }
    expect(await apiTokenUser(database.db, made.token)).toMatchObject({ id: bob.id });
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

  it('the limits are inclusive: a 64-character name and 3650 days are made; null expiry means never', async () => {
    const erin = await createUser(database.db, { email: 'erin@x.test', displayName: 'Erin', password: 'first password 1', role: 'user' }, 100);
    const now = new Date('2026-01-01T00:00:00Z');
    const long = await createApiToken(database.db, erin, { name: 'n'.repeat(MAX_TOKEN_NAME), expiresInDays: MAX_TOKEN_DAYS }, now);
    expect(long.name).toBe('n'.repeat(MAX_TOKEN_NAME));
    expect(long.expiresAt).toBe(new Date(now.getTime() + MAX_TOKEN_DAYS * 86_400_000).toISOString());
    const never = await createApiToken(database.db, erin, { name: 'never', expiresInDays: null });
    expect(never.expiresAt).toBeNull();
    expect((await listApiTokens(database.db, erin.id)).map((t) => t.name)).toEqual(['n'.repeat(MAX_TOKEN_NAME), 'never']);
    // History says when an expiring token ends, and that the creation succeeded.
    const said = await database.db.select().from(history).where(eq(history.userId, erin.id));
    expect(said.map((h) => [h.fileName.slice(0, 5), h.result, h.detail])).toEqual(
      expect.arrayContaining([
        ['nnnnn', 'ok', `scopes read write; expires ${long.expiresAt}`],
        ['never', 'ok', 'scopes read write; never expires']
      ])
    );
  });

  it('refusals say what is wrong, in words the Account page shows as they are', async () => {
    const frank = await createUser(database.db, { email: 'frank@x.test', displayName: 'Frank', password: 'first password 1', role: 'user' }, 100);
    expect(await message(createApiToken(database.db, frank, { name: '' }))).toBe('A token needs a name of 1 to 64 characters.');
    expect(await message(createApiToken(database.db, frank, { name: 'ok', expiresInDays: 0 }))).toBe('A token expires after 1 to 3650 days, or never (null).');
    for (const handle of ['nope', 'f'.repeat(32)]) expect(await message(revokeApiToken(database.db, frank, handle))).toBe('No such API token.');
    await Promise.all(Array.from({ length: MAX_TOKENS_PER_USER }, (_, i) => createApiToken(database.db, frank, { name: `f${i}` })));
    expect(await message(createApiToken(database.db, frank, { name: 'one more' }))).toBe('You have 20 API tokens already: revoke one first.');
    const said = await database.db.select().from(history).where(eq(history.userId, frank.id));
    const [first] = await listApiTokens(database.db, frank.id);
    await revokeApiToken(database.db, frank, first!.handle);
    const after = await database.db.select().from(history).where(eq(history.userId, frank.id));
    expect(after.filter((h) => !said.some((s) => s.id === h.id)).map((h) => [h.operation, h.fileName, h.result])).toEqual([['token_revoke', first!.name, 'ok']]);
  });

  it('the last use is written at most once a minute per token', async () => {
    const made = await createApiToken(database.db, alice, { name: 'busy script' });
    const t0 = new Date(Date.now() + 3_600_000);
    const lastUsed = async () => (await listApiTokens(database.db, alice.id)).find((t) => t.handle === made.handle)!.lastUsedAt;
    await apiTokenUser(database.db, made.token, t0);
    expect(await lastUsed()).toBe(t0.toISOString());
    await apiTokenUser(database.db, made.token, new Date(t0.getTime() + 59_999));
    expect(await lastUsed()).toBe(t0.toISOString());
    const minute = new Date(t0.getTime() + 60_000);
    await apiTokenUser(database.db, made.token, minute);
    expect(await lastUsed()).toBe(minute.toISOString());
    await revokeApiToken(database.db, alice, made.handle);
  });

  it('a token of an account that must change its password says so', async () => {
    const gus = await createUser(database.db, { email: 'gus@x.test', displayName: 'Gus', password: 'first password 1', role: 'user', mustChangePassword: true }, 100);
    const made = await createApiToken(database.db, gus, { name: 'cli' });
    expect(await apiTokenUser(database.db, made.token)).toEqual({ id: gus.id, email: 'gus@x.test', displayName: 'Gus', role: 'user', mustChangePassword: true, scopes: ['read', 'write'] });
  });

  it('a handle with a NUL byte (a route parameter may decode %00) is not found, never a database error', async () => {
    const made = await createApiToken(database.db, bob, { name: 'nul' });
    // PostgreSQL text cannot hold NUL: a query with one fails, so the handle's form is checked first.
    for (const bad of ['\0', `${made.handle}\0`, `\0${made.handle}`]) expect(await message(revokeApiToken(database.db, bob, bad)), JSON.stringify(bad)).toBe('No such API token.');
    expect(await apiTokenUser(database.db, made.token)).toMatchObject({ id: bob.id });
    await revokeApiToken(database.db, bob, made.handle);
  });
});
