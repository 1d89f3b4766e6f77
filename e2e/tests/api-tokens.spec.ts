/**
 * Personal API tokens (issues #19 and #20) against the shared stack: made and revoked on the Account page
 * in Chromium, used as a bearer credential over HTTP (no Origin, no CSRF token, no cookie), unable to
 * manage credentials, refused when malformed, oversized or revoked (never falling back to a cookie), and
 * used by the real `kofn` CLI (login --token-stdin, and $KOFN_URL + $KOFN_TOKEN) for a byte-identical
 * protect and retrieve.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as playwrightRequest, type APIRequestContext } from '@playwright/test';
import { test, expect, ADMIN } from '../fixtures.js';
import { ready } from '../helpers.js';
import { kofnIn } from '../cli-run.js';
import { ROUTE_SCOPES, SCOPES, type Scope } from '../../web/src/lib/server/token-scopes.js';

test.describe.configure({ mode: 'serial' });

const work = mkdtempSync(join(tmpdir(), 'kofn-token-e2e-'));
let secret = '';
let bearer: APIRequestContext;

test.afterAll(async () => {
  await bearer?.dispose();
  rmSync(work, { recursive: true, force: true });
});

const run = kofnIn(work);
async function kofn(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await run(args, opts);
  return { ...r, stdout: r.stdout.toString() };
}

test('a token is made on the Account page, shown once, and listed without its secret', async ({ admin }) => {
  const { page } = admin;
  await page.goto('/account');
  await ready(page);
  await expect(page.getByRole('heading', { name: 'API tokens' })).toBeVisible();
  await page.getByTestId('token-name').fill('e2e script');
  await page.getByTestId('token-expiry').selectOption({ label: '7 days' });
  await page.getByRole('button', { name: 'Create token' }).click();
  await expect(page.getByTestId('token-made')).toContainText('Copy it now: it is not shown again.');
  secret = (await page.getByTestId('token-secret').innerText()).trim();
  expect(secret).toMatch(/^kofn_pat_[A-Za-z0-9_-]{43}$/);
  const row = page.getByTestId('token-row').filter({ hasText: 'e2e script' });
  await expect(row).toContainText('last used never');
  // Read and write are ticked by default; the list shows what each token may do.
  await expect(row.getByTestId('token-row-scopes')).toHaveText('read, write');
  // After a reload the secret is gone from the page; the list (and the API) never carries it.
  await page.reload();
  await ready(page);
  await expect(page.getByTestId('token-row').filter({ hasText: 'e2e script' })).toHaveCount(1);
  expect(await page.content()).not.toContain(secret);
  expect(await (await admin.get('/api/tokens')).text()).not.toContain(secret.slice(9));
});

test('the token authenticates over HTTP without cookie, Origin or CSRF token, and cannot manage credentials', async ({ stack }) => {
  bearer = await playwrightRequest.newContext({ baseURL: stack.url, extraHTTPHeaders: { Authorization: `Bearer ${secret}` } });
  const who = await bearer.get('/api/session');
  expect(who.status()).toBe(200);
  expect(await who.json()).toMatchObject({ user: { email: ADMIN.email }, csrfToken: null });
  // An unsafe method goes through without Origin or X-CSRF-Token: it reaches the route (400 for the empty
  // reservation), where a cookie request without them would meet CSRF_FAILED.
  const reserve = await bearer.post('/api/files', { data: {} });
  expect(reserve.status()).toBe(400);
  expect(((await reserve.json()) as { error: { code: string } }).error.code).not.toBe('CSRF_FAILED');
  for (const [method, path, data] of [
    ['GET', '/api/tokens', undefined],
    ['POST', '/api/tokens', { name: 'successor' }],
    ['POST', '/api/account/password', { currentPassword: ADMIN.password, newPassword: 'a brand new passphrase' }],
    ['DELETE', '/api/account/sessions', undefined]
  ] as const) {
    const r = await bearer.fetch(path, { method, ...(data ? { data } : {}) });
    expect(r.status(), `${method} ${path}`).toBe(403);
    expect(await r.json()).toEqual({ error: { code: 'FORBIDDEN', message: 'An API token cannot manage credentials: sign in with your password to do this.' } });
  }
});

test('scopes: every API route refuses a token without the scope it needs, and lets one with it through', async ({ admin, stack }) => {
  test.setTimeout(120_000);
  // One token per single scope, and one with all four (the administrator may hold admin).
  const made: Array<{ scopes: Scope[]; ctx: APIRequestContext; handle: string }> = [];
  for (const scopes of [...SCOPES.map((s) => [s]), [...SCOPES]] as Scope[][]) {
    const r = await admin.post('/api/tokens', { name: `scope ${scopes.join('+')}`, scopes });
    expect(r.status(), await r.text()).toBe(201);
    const t = (await r.json()) as { token: string; handle: string; scopes: Scope[] };
    expect(t.scopes).toEqual(scopes);
    made.push({ scopes, handle: t.handle, ctx: await playwrightRequest.newContext({ baseURL: stack.url, extraHTTPHeaders: { Authorization: `Bearer ${t.token}` } }) });
  }
  // Allowed calls go with ids that do not exist and empty bodies, so they change nothing; two admin
  // routes would act even so (renew all files, make an enrollment token) and are only called when refused.
  const acting = new Set(['POST /api/renewals', 'POST /api/relays/enrollments']);
  let refused = 0;
  let through = 0;
  for (const [id, methods] of Object.entries(ROUTE_SCOPES)) {
    for (const [method, need] of Object.entries(methods)) {
      if (need === 'any') continue;
      const path = id.replace('[id]', id.startsWith('/api/users') ? '00000000-0000-0000-0000-000000000000' : 'f'.repeat(32)).replace('[handle]', '0'.repeat(32));
      for (const t of made) {
        const allowed = need !== 'session' && t.scopes.includes(need);
        if (allowed && acting.has(`${method} ${id}`)) continue;
        const r = await t.ctx.fetch(path, { method, ...(method === 'GET' ? {} : { data: {} }) });
        const code = r.status() === 403 ? ((await r.json()) as { error: { code: string } }).error.code : '';
        const what = `${method} ${path} with ${t.scopes.join('+')}`;
        if (need === 'session') expect(code, what).toBe('FORBIDDEN');
        else if (allowed) {
          expect(code, what).not.toBe('TOKEN_SCOPE');
          expect(r.status(), what).toBeLessThan(500);
          through++;
        } else {
          expect(code, what).toBe('TOKEN_SCOPE');
          refused++;
        }
      }
    }
  }
  expect(refused).toBeGreaterThan(100);
  expect(through).toBeGreaterThan(30);

  // In words: a read-only token lists and reads but cannot protect, remove or share.
  const read = made.find((t) => t.scopes.join() === 'read')!.ctx;
  expect((await read.get('/api/files')).status()).toBe(200);
  for (const [method, path, data] of [
    ['POST', '/api/files', { name: 'x.bin', size: 1, k: 2, n: 3 }],
    ['POST', '/api/files/batch', { files: [] }],
    ['DELETE', `/api/files/${'f'.repeat(32)}`, undefined],
    ['POST', '/api/grants', { action: 'add_read', emails: ['x@kofn.test'], fileIds: ['f'.repeat(32)] }],
    ['POST', '/api/links', {}],
    ['GET', '/api/users', undefined]
  ] as const) {
    const r = await read.fetch(path, { method, ...(data ? { data } : {}) });
    expect(r.status(), `${method} ${path}`).toBe(403);
    expect(((await r.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'TOKEN_SCOPE', message: expect.stringContaining('lacks the') });
  }
  // Bulk share and bulk revoke give or end access: a write token moves and trashes in bulk, but needs the
  // share scope for those two actions, as on /api/grants and /api/links.
  const write = made.find((t) => t.scopes.join() === 'write')!.ctx;
  const all = made.find((t) => t.scopes.length === SCOPES.length)!.ctx;
  for (const data of [
    { action: 'share', files: ['f'.repeat(32)], emails: ['x@kofn.test'] },
    { action: 'revoke', files: ['f'.repeat(32)] }
  ]) {
    const refusedBulk = await write.post('/api/folders/bulk', { data });
    expect(refusedBulk.status(), data.action).toBe(403);
    expect(((await refusedBulk.json()) as { error: { code: string } }).error.code).toBe('TOKEN_SCOPE');
    const allowedBulk = await all.post('/api/folders/bulk', { data });
    expect(allowedBulk.status(), `${data.action}: ${await allowedBulk.text()}`).toBe(200);
  }
  const moved = await write.post('/api/folders/bulk', { data: { action: 'trash', files: ['f'.repeat(32)] } });
  expect(moved.status(), await moved.text()).toBe(200);
  // Upload tokens are a write: a read token may fetch read tokens only.
  const upload = await read.post(`/api/files/${'f'.repeat(32)}/tokens`, { data: { op: 'put' } });
  expect(((await upload.json()) as { error: { code: string } }).error.code).toBe('TOKEN_SCOPE');
  const get = await read.post(`/api/files/${'f'.repeat(32)}/tokens`, { data: { op: 'get' } });
  expect(((await get.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');

  // Bad scope lists are refused (an admin scope for a non-administrator: token-scopes.test.ts, api-tokens.test.ts).
  expect(((await (await admin.post('/api/tokens', { name: 'bad', scopes: ['root'] })).json()) as { error: { code: string } }).error.code).toBe('WRONG_VALUE');
  expect(((await (await admin.post('/api/tokens', { name: 'bad', scopes: [] })).json()) as { error: { code: string } }).error.code).toBe('WRONG_VALUE');
  for (const t of made) {
    await t.ctx.dispose();
    expect((await admin.del(`/api/tokens/${t.handle}`)).status()).toBe(200);
  }
});

test("the token routes refuse no session (401), a cookie request without CSRF token (403), an oversized body (413), another user's handle (404)", async ({ admin, stack }) => {
  const anon = await playwrightRequest.newContext({ baseURL: stack.url });
  expect((await anon.get('/api/tokens')).status()).toBe(401);
  expect((await anon.post('/api/tokens', { data: { name: 'x' }, headers: { Origin: stack.url } })).status()).toBe(401);
  await anon.dispose();
  const noCsrf = await admin.page.request.post('/api/tokens', { data: { name: 'x' }, headers: { Origin: stack.url } });
  expect(noCsrf.status()).toBe(403);
  expect(((await noCsrf.json()) as { error: { code: string } }).error.code).toBe('CSRF_FAILED');
  const big = await admin.post('/api/tokens', { name: 'x', pad: 'y'.repeat(70_000) });
  expect(big.status()).toBe(413);
  const bad = await admin.post('/api/tokens', { name: 'a\u0000b' });
  expect(bad.status()).toBe(400);
  expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('WRONG_VALUE');
  for (const handle of ['0'.repeat(32), 'not-a-handle', '%2e%2e']) expect((await admin.del(`/api/tokens/${handle}`)).status()).toBe(404);
});

test('malformed, oversized and unknown bearer headers get 401 and never fall back to the cookie', async ({ admin, stack }) => {
  const cases = [
    'Bearer',
    'Bearer ',
    `Basic ${Buffer.from('a:b').toString('base64')}`,
    `Bearer ${secret} extra`,
    `Bearer ${secret}x`,
    `Bearer ${'A'.repeat(300)}`,
    `bearer ${secret}`.replace(secret, secret.slice(0, -2))
  ];
  for (const h of cases) {
    // The admin's page context carries a valid session cookie: a bad token must still be refused.
    const r = await admin.page.request.get('/api/session', { headers: { Authorization: h } });
    expect(r.status(), h.slice(0, 24)).toBe(401);
    expect(r.headers()['www-authenticate']).toContain('invalid_token');
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
  }
  const anon = await playwrightRequest.newContext({ baseURL: stack.url });
  expect((await anon.get('/api/files', { headers: { Authorization: `Bearer kofn_pat_${'A'.repeat(43)}` } })).status()).toBe(401);
  await anon.dispose();
});

test('the kofn CLI signs in with the token and protects and retrieves a file byte-identical', async ({ stack }) => {
  test.setTimeout(120_000);
  const wrong = await kofn(['login', stack.url, '--token-stdin'], { input: `kofn_pat_${'B'.repeat(43)}\n` });
  expect(wrong.code, wrong.stderr).toBe(3);
  expect(wrong.stderr).toMatch(/^kofn: .*API token.*\[NOT_SIGNED_IN\]\n$/);
  const login = await kofn(['login', stack.url, '--token-stdin'], { input: `${secret}\n` });
  expect(login.code, login.stderr).toBe(0);
  expect(login.stdout).toContain(`as ${ADMIN.email} with an API token`);
  const saved = readFileSync(join(work, 'config', 'session.json'), 'utf8');
  expect(JSON.parse(saved)).toEqual({ url: stack.url, email: ADMIN.email, token: secret });

  const data = randomBytes(200_000);
  const name = `token-cli-${Date.now()}.bin`;
  writeFileSync(join(work, name), data);
  const p = await kofn(['protect', join(work, name), '-k', '2']);
  expect(p.code, p.stderr).toBe(0);
  const out = join(work, 'back.bin');
  const r = await kofn(['retrieve', name, '-o', out]);
  expect(r.code, r.stderr).toBe(0);
  expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));

  // Without any saved session: $KOFN_URL and $KOFN_TOKEN are enough for cron jobs and CI.
  rmSync(join(work, 'config'), { recursive: true, force: true });
  const ls = await kofn(['ls', name, '--json'], { env: { KOFN_URL: stack.url, KOFN_TOKEN: secret } });
  expect(ls.code, ls.stderr).toBe(0);
  expect((JSON.parse(ls.stdout) as { files: Array<{ name: string }> }).files.map((f) => f.name)).toEqual([name]);
  const status = await kofn(['status', '--json'], { env: { KOFN_URL: stack.url, KOFN_TOKEN: secret } });
  expect(status.code, status.stderr).toBe(0);
  expect(JSON.parse(status.stdout)).toMatchObject({ server: stack.url, email: ADMIN.email });
});

test('revoked on the Account page, the token is refused at once, over HTTP and in the CLI', async ({ admin, stack }) => {
  const { page } = admin;
  await page.goto('/account');
  await ready(page);
  const row = page.getByTestId('token-row').filter({ hasText: 'e2e script' });
  await expect(row).toContainText(/last used (?!never)/);
  await row.getByRole('button', { name: 'Revoke token e2e script' }).click();
  const dialog = page.getByTestId('revoke-token-dialog');
  await expect(dialog).toContainText('Scripts using this token stop working at once.');
  await dialog.getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByTestId('token-row').filter({ hasText: 'e2e script' })).toHaveCount(0);
  expect((await bearer.get('/api/session')).status()).toBe(401);
  const ls = await kofn(['ls'], { env: { KOFN_URL: stack.url, KOFN_TOKEN: secret } });
  expect(ls.code).toBe(3);
  expect(ls.stderr).toContain('[NOT_SIGNED_IN]');
  const { history } = (await (await admin.get('/api/history')).json()) as { history: Array<{ operation: string; fileName: string }> };
  expect(history.filter((e) => e.fileName === 'e2e script').map((e) => e.operation)).toEqual(expect.arrayContaining(['token_create', 'token_revoke']));
});
