/**
 * Issue #19's account-security routes over HTTP with the coordinator on the real PostgreSQL (the shared
 * stack runs on PGlite): a private stack on a fresh database made and dropped here, then one table-driven
 * attack matrix over the passkey, two-step (TOTP), security-policy and API-token routes: unauthorised,
 * CSRF (no token, foreign Origin), malformed, oversized, replayed (a spent TOTP code, a signed-out session
 * cookie, a revoked token), and token scopes. Also: turning TOTP on ends the user's other sessions, and an
 * administrator's admin-scope token is refused once the account is demoted. Without a reachable PostgreSQL
 * the whole file reports skipped, with the reason.
 */
import { request as playwrightRequest, test, expect, type APIRequestContext, type APIResponse } from '@playwright/test';
import { randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { ADMIN } from '../fixtures.js';
import { freshPostgresDatabase, type PostgresDatabase } from '../postgres-database.js';
import { startStack, type RunningStack } from '../stack.js';

test.describe.configure({ mode: 'serial', timeout: 60_000 });

let pg: PostgresDatabase | undefined;
let stack: RunningStack | undefined;
const contexts: APIRequestContext[] = [];
/** The coordinator's secret key (KOFN_SECRET_KEY) for the first start, and the one the last test rotates to. */
const keyA = randomBytes(32).toString('base64url');
const keyB = randomBytes(32).toString('base64url');
/** Uma's TOTP secret and the time step of the code that turned it on (set by the replay test). */
let umaTotp: { secret: string; step: number } | undefined;

const errorCode = async (res: APIResponse) => ((await res.json()) as { error?: { code?: string } }).error?.code;
const step = () => Math.floor(Date.now() / 30_000);

/** A request context for the stack; disposed after the file. */
async function client(headers?: Record<string, string>): Promise<APIRequestContext> {
  const c = await playwrightRequest.newContext({ baseURL: stack!.url, ...(headers ? { extraHTTPHeaders: headers } : {}) });
  contexts.push(c);
  return c;
}

/** Signs `who` in on a new context (its cookie jar keeps the session); the headers a cookie request needs. */
async function signIn(who: { email: string; password: string }): Promise<{ ctx: APIRequestContext; headers: Record<string, string> }> {
  const ctx = await client();
  const res = await ctx.post('/api/login', { data: who, headers: { Origin: stack!.url } });
  expect(res.status(), await res.text()).toBe(200);
  const { csrfToken } = (await res.json()) as { csrfToken: string };
  return { ctx, headers: { Origin: stack!.url, 'X-CSRF-Token': csrfToken } };
}

const uma = { email: 'uma@kofn.test', displayName: 'Uma', password: 'uma long password 1', role: 'user' };
const bea = { email: 'bea@kofn.test', displayName: 'Bea', password: 'bea long password 1', role: 'admin' };

test.beforeAll(async () => {
  test.setTimeout(240_000);
  const found = await freshPostgresDatabase();
  test.skip('skipped' in found, 'skipped' in found ? found.skipped : '');
  pg = found as PostgresDatabase;
  // localhost: the passkey routes' WebAuthn relying party must not be an IP address.
  stack = await startStack({ relays: 1, tier: 'Pro', publicHost: 'localhost', databaseUrl: pg.url, env: { KOFN_SECRET_KEY: keyA } });
  const anon = await client();
  const setup = await anon.post('/api/setup', { data: ADMIN, headers: { Origin: stack.url } });
  expect(setup.status(), await setup.text()).toBe(201);
  const admin = await signIn(ADMIN);
  for (const who of [uma, bea]) expect((await admin.ctx.post('/api/users', { data: who, headers: admin.headers })).status()).toBe(201);
});

test.afterAll(async () => {
  for (const c of contexts) await c.dispose();
  await stack?.stop();
  await pg?.drop();
});

test('the coordinator of this stack writes to the PostgreSQL database made for it', async () => {
  const rows = await pg!.query<{ email: string }>('select email from users order by email');
  expect(rows.map((r) => r.email)).toEqual([ADMIN.email, bea.email, uma.email].sort());
});

/** Every session-only route of passkeys, two-step sign-in, the security policy and API tokens. */
const SESSION_ROUTES = [
  ['GET', '/api/passkeys'],
  ['POST', '/api/passkeys/register/options'],
  ['POST', '/api/passkeys/register'],
  ['PATCH', '/api/passkeys/AAAA'],
  ['DELETE', '/api/passkeys/AAAA'],
  ['GET', '/api/account/totp'],
  ['POST', '/api/account/totp'],
  ['POST', '/api/account/totp/enable'],
  ['POST', '/api/account/totp/disable'],
  ['POST', '/api/account/totp/recovery-codes'],
  ['GET', '/api/security-policy'],
  ['POST', '/api/security-policy'],
  ['GET', '/api/tokens'],
  ['POST', '/api/tokens'],
  ['DELETE', `/api/tokens/${'0'.repeat(32)}`]
] as const;
/** The routes that take a JSON body (malformed and oversized bodies), with who calls them. */
const BODY_ROUTES = [
  ['POST', '/api/passkeys/register', 'user'],
  ['POST', '/api/passkeys/login', 'anon'],
  ['POST', '/api/login/second-factor', 'anon'],
  ['POST', '/api/account/totp/enable', 'user'],
  ['POST', '/api/account/totp/disable', 'user'],
  ['POST', '/api/account/totp/recovery-codes', 'user'],
  ['POST', '/api/security-policy', 'admin'],
  ['POST', '/api/tokens', 'user']
] as const;

test('unauthorised: no session gets 401 on every session route; a user gets 403 on the security policy', async () => {
  const anon = await client();
  for (const [method, path] of SESSION_ROUTES) {
    const res = await anon.fetch(path, { method, headers: { Origin: stack!.url }, ...(method === 'POST' || method === 'PATCH' ? { data: {} } : {}) });
    expect([res.status(), await errorCode(res)], `${method} ${path}`).toEqual([401, 'UNAUTHORIZED']);
  }
  const user = await signIn(uma);
  expect((await user.ctx.get('/api/security-policy')).status()).toBe(403);
  const set = await user.ctx.post('/api/security-policy', { data: { requireAdminSecondFactor: true }, headers: user.headers });
  expect([set.status(), await errorCode(set)]).toEqual([403, 'FORBIDDEN']);
});

test('CSRF: a signed-in cookie without the CSRF token, or from another origin, is refused on every changing route', async () => {
  const user = await signIn(uma);
  const anon = await client();
  for (const [method, path] of SESSION_ROUTES.filter(([m]) => m !== 'GET')) {
    const noToken = await user.ctx.fetch(path, { method, data: {}, headers: { Origin: stack!.url } });
    expect([noToken.status(), await errorCode(noToken)], `${method} ${path} without token`).toEqual([403, 'CSRF_FAILED']);
    const foreign = await user.ctx.fetch(path, { method, data: {}, headers: { ...user.headers, Origin: 'http://evil.example' } });
    expect([foreign.status(), await errorCode(foreign)], `${method} ${path} cross-site`).toEqual([403, 'CSRF_FAILED']);
  }
  // The sign-in steps have no session yet: a foreign Origin is what they refuse.
  for (const path of ['/api/passkeys/login/options', '/api/passkeys/login', '/api/login/second-factor']) {
    const foreign = await anon.post(path, { data: {}, headers: { Origin: 'http://evil.example' } });
    expect([foreign.status(), await errorCode(foreign)], `${path} cross-site`).toEqual([403, 'CSRF_FAILED']);
  }
});

test('malformed and oversized bodies: 400 and 413 with stable codes, never a 500', async () => {
  const callers = { anon: { ctx: await client(), headers: { Origin: stack!.url } }, user: await signIn(uma), admin: await signIn(ADMIN) };
  for (const [method, path, who] of BODY_ROUTES) {
    const { ctx, headers } = callers[who];
    const notJson = await ctx.fetch(path, { method, data: '{"code":', headers: { ...headers, 'Content-Type': 'application/json' } });
    expect([notJson.status(), await errorCode(notJson)], `${path} not JSON`).toEqual([400, 'BAD_REQUEST']);
    const huge = await ctx.fetch(path, { method, data: { code: 'x'.repeat(70_000) }, headers });
    expect([huge.status(), await errorCode(huge)], `${path} oversized`).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  }
  // Wrong shapes, each with its own error.
  for (const [who, path, data, status, codeName] of [
    ['user', '/api/account/totp/enable', { code: 123456 }, 400, 'WRONG_VALUE'],
    ['user', '/api/account/totp/enable', { code: '12345' }, 400, 'WRONG_VALUE'],
    ['admin', '/api/security-policy', { requireAdminSecondFactor: 'yes' }, 400, 'WRONG_VALUE'],
    ['user', '/api/tokens', { name: 'x', scopes: ['root'] }, 400, 'WRONG_VALUE'],
    // Well formed, but the admin scope is not a user's to give.
    ['user', '/api/tokens', { name: 'x', scopes: ['admin'] }, 403, 'FORBIDDEN'],
    ['user', '/api/passkeys/register', { name: 'x', response: { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: '!!' } } }, 400, 'PASSKEY_INVALID'],
    ['anon', '/api/passkeys/login', { response: { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: '!!' } } }, 400, 'PASSKEY_INVALID']
  ] as const) {
    const { ctx, headers } = callers[who];
    const res = await ctx.post(path, { data, headers });
    expect([res.status(), await errorCode(res)], `${path} ${JSON.stringify(data).slice(0, 60)}`).toEqual([status, codeName]);
  }
});

test('replayed: a spent TOTP code, a signed-out session cookie and a revoked token are refused; TOTP on ends the other sessions', async () => {
  const here = await signIn(uma);
  const laptop = await signIn(uma);
  expect((await laptop.ctx.get('/api/account/totp')).status()).toBe(200);
  const { secret } = (await (await here.ctx.post('/api/account/totp', { data: {}, headers: here.headers })).json()) as { secret: string };
  const s = step();
  const code = await generate({ secret, epoch: s * 30, period: 30 });
  umaTotp = { secret, step: s };
  const on = await here.ctx.post('/api/account/totp/enable', { data: { code }, headers: here.headers });
  expect(on.status(), await on.text()).toBe(200);
  const { recoveryCodes, otherSessionsEnded } = (await on.json()) as { recoveryCodes: string[]; otherSessionsEnded: number };
  // Item 3: the laptop's session (and the ones the earlier tests opened for Uma) ended; this one did not.
  expect(otherSessionsEnded).toBeGreaterThanOrEqual(1);
  expect((await laptop.ctx.get('/api/account/totp')).status()).toBe(401);
  expect((await here.ctx.get('/api/account/totp')).status()).toBe(200);

  // The code that turned TOTP on, replayed at sign-in within its window: refused as replayed.
  const thief = await client();
  const half = await thief.post('/api/login', { data: { email: uma.email, password: uma.password }, headers: { Origin: stack!.url } });
  expect(await half.json()).toEqual({ secondFactor: 'totp' });
  // (Past its ±1 step window, which takes over 30 s, the code is merely wrong: refused either way.)
  const inWindow = step() - s <= 1;
  const again = await thief.post('/api/login/second-factor', { data: { code }, headers: { Origin: stack!.url } });
  expect([again.status(), await errorCode(again)]).toEqual([401, inWindow ? 'SECOND_FACTOR_REPLAYED' : 'SECOND_FACTOR_INVALID']);
  // A recovery code signs in once; the same code again is refused as replayed.
  const first = await thief.post('/api/login/second-factor', { data: { code: recoveryCodes[0] }, headers: { Origin: stack!.url } });
  expect(first.status(), await first.text()).toBe(200);
  const other = await client();
  expect(await (await other.post('/api/login', { data: { email: uma.email, password: uma.password }, headers: { Origin: stack!.url } })).json()).toEqual({ secondFactor: 'totp' });
  const reused = await other.post('/api/login/second-factor', { data: { code: recoveryCodes[0] }, headers: { Origin: stack!.url } });
  expect([reused.status(), await errorCode(reused)]).toEqual([401, 'SECOND_FACTOR_REPLAYED']);

  // A session cookie kept after sign-out: refused.
  const cookies = (await thief.storageState()).cookies.filter((c) => c.name.startsWith('kofn'));
  expect(cookies.length).toBeGreaterThan(0);
  const cookieHeader = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  const { csrfToken } = (await (await thief.get('/api/session')).json()) as { csrfToken: string };
  expect((await thief.post('/api/logout', { data: {}, headers: { Origin: stack!.url, 'X-CSRF-Token': csrfToken } })).status()).toBe(200);
  const replayedCookie = await (await client({ Cookie: cookieHeader })).get('/api/account/totp');
  expect(replayedCookie.status()).toBe(401);

  // A revoked token: refused at once.
  const admin = await signIn(ADMIN);
  const made = (await (await admin.ctx.post('/api/tokens', { data: { name: 'revoked', scopes: ['read'] }, headers: admin.headers })).json()) as { token: string; handle: string };
  const bearer = await client({ Authorization: `Bearer ${made.token}` });
  expect((await bearer.get('/api/files')).status()).toBe(200);
  expect((await admin.ctx.delete(`/api/tokens/${made.handle}`, { headers: admin.headers })).status()).toBe(200);
  const revoked = await bearer.get('/api/files');
  expect([revoked.status(), await errorCode(revoked)]).toEqual([401, 'UNAUTHORIZED']);
});

test('token scopes: a read token cannot write, share or administer; no token manages credentials', async () => {
  const admin = await signIn(ADMIN);
  const made = (await (await admin.ctx.post('/api/tokens', { data: { name: 'read only', scopes: ['read'] }, headers: admin.headers })).json()) as { token: string };
  const read = await client({ Authorization: `Bearer ${made.token}` });
  expect((await read.get('/api/files')).status()).toBe(200);
  for (const [method, path, data] of [
    ['POST', '/api/files', { name: 'x.bin', size: 1, k: 2, n: 3 }],
    ['DELETE', `/api/files/${'f'.repeat(32)}`, undefined],
    ['POST', '/api/grants', { action: 'add_read', emails: ['x@kofn.test'], fileIds: ['f'.repeat(32)] }],
    ['POST', '/api/links', {}],
    ['GET', '/api/users', undefined]
  ] as const) {
    const res = await read.fetch(path, { method, ...(data ? { data } : {}) });
    expect([res.status(), await errorCode(res)], `${method} ${path}`).toEqual([403, 'TOKEN_SCOPE']);
  }
  const all = (await (await admin.ctx.post('/api/tokens', { data: { name: 'all', scopes: ['read', 'write', 'share', 'admin'] }, headers: admin.headers })).json()) as { token: string };
  const full = await client({ Authorization: `Bearer ${all.token}` });
  for (const [method, path] of SESSION_ROUTES) {
    const res = await full.fetch(path, { method, ...(method === 'POST' || method === 'PATCH' ? { data: {} } : {}) });
    expect([res.status(), await errorCode(res)], `${method} ${path}`).toEqual([403, 'FORBIDDEN']);
  }
});

test("a demoted administrator's admin-scope token is refused on admin routes at once", async () => {
  const root = await signIn(ADMIN);
  const b = await signIn(bea);
  const made = await b.ctx.post('/api/tokens', { data: { name: 'bea admin', scopes: ['read', 'admin'] }, headers: b.headers });
  expect(made.status(), await made.text()).toBe(201);
  const bearer = await client({ Authorization: `Bearer ${((await made.json()) as { token: string }).token}` });
  expect((await bearer.get('/api/users')).status()).toBe(200);
  expect((await bearer.get('/api/jobs')).status()).toBe(200);
  const { users } = (await (await root.ctx.get('/api/users')).json()) as { users: Array<{ id: string; email: string }> };
  const demote = await root.ctx.patch(`/api/users/${users.find((u) => u.email === bea.email)!.id}`, { data: { role: 'user' }, headers: root.headers });
  expect(demote.status(), await demote.text()).toBe(200);
  for (const path of ['/api/users', '/api/jobs', '/api/relays', '/api/license']) {
    const res = await bearer.get(path);
    expect([res.status(), await errorCode(res)], path).toEqual([403, 'FORBIDDEN']);
  }
  // The token still acts as Bea, now a user, within its other scope.
  expect((await bearer.get('/api/files')).status()).toBe(200);
});

test('rotating KOFN_SECRET_KEY: restarted with the new key and KOFN_SECRET_KEY_OLD, two-step sign-in still works', async () => {
  expect(umaTotp).toBeDefined();
  const sealed = async () => (await pg!.query<{ secret: string }>(`select secret from totp_credentials`)).map((r) => r.secret);
  const before = await sealed();
  expect(before).toHaveLength(1);
  for (const c of contexts.splice(0)) await c.dispose();
  await stack!.stop();
  // The same PostgreSQL database, the new key in force, the old one to read what was sealed under it.
  stack = await startStack({ relays: 1, tier: 'Pro', publicHost: 'localhost', databaseUrl: pg!.url, env: { KOFN_SECRET_KEY: keyB, KOFN_SECRET_KEY_OLD: keyA } });
  const after = await sealed();
  expect(after).toHaveLength(1);
  expect(after[0]).not.toBe(before[0]);
  // A code of a step not yet used (the next one is inside the ±1 window): the re-sealed secret verifies it.
  const s = Math.max(step(), umaTotp!.step + 1);
  const ctx = await client();
  expect(await (await ctx.post('/api/login', { data: { email: uma.email, password: uma.password }, headers: { Origin: stack.url } })).json()).toEqual({ secondFactor: 'totp' });
  const done = await ctx.post('/api/login/second-factor', { data: { code: await generate({ secret: umaTotp!.secret, epoch: s * 30, period: 30 }) }, headers: { Origin: stack.url } });
  expect(done.status(), await done.text()).toBe(200);
});
