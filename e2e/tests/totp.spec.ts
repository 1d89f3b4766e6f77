/**
 * Issue #19, TOTP second factor through the real coordinator and Chromium: a user turns on two-step
 * sign-in on the Account page (codes computed here with otplib from the secret the page shows, as an
 * authenticator app would), signs out, signs in with a code, then with a recovery code (which is then
 * refused); a used code is refused; the routes' HTTP edges (unauthorised, CSRF, oversized, malformed,
 * API tokens, guessing throttled); and "require a second factor for administrators" sending an
 * administrator without one to set it up before any admin page or route.
 */
import { randomBytes } from 'node:crypto';
import type { APIRequestContext, APIResponse, Page } from '@playwright/test';
import { generate } from 'otplib';
import { test, expect, type Stack } from '../fixtures.js';
import { errorCode, ready, signOutThroughUi } from '../helpers.js';

const step = () => Math.floor(Date.now() / 30_000);
/** A code of a time step after `after` (waits for the next step when needed): each code signs in once. */
async function codeAfter(secret: string, after: number): Promise<{ code: string; step: number }> {
  while (step() <= after) await new Promise((r) => setTimeout(r, 500));
  const s = step();
  return { code: await generate({ secret, epoch: s * 30, period: 30 }), step: s };
}

const suffix = randomBytes(4).toString('hex');
const person = (name: string, role: 'user' | 'admin' = 'user') => ({
  email: `${name}-${suffix}@kofn.test`,
  displayName: name,
  password: `${name} long password 1`,
  role
});

async function signInPage(page: Page, who: { email: string; password: string }) {
  await page.goto('/login');
  await ready(page);
  await page.getByLabel('E-mail').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Turns on TOTP on the Account page; returns the secret shown and the recovery codes. */
async function enableOnAccountPage(page: Page): Promise<{ secret: string; recovery: string[]; step: number }> {
  await page.getByRole('button', { name: 'Set up two-step sign-in' }).click();
  await expect(page.getByRole('img', { name: 'QR code to add kofn to an authenticator app' })).toBeVisible();
  const secret = (await page.getByTestId('totp-secret').textContent())!.trim();
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  const first = await codeAfter(secret, 0);
  await page.getByLabel('Code from the app').fill(first.code);
  await page.getByRole('button', { name: 'Turn on' }).click();
  await expect(page.getByTestId('totp-status')).toContainText('On: sign-in asks for a code');
  // The user's other sessions end, as on a password change (this page's session stays).
  await expect(page.getByRole('status').filter({ hasText: 'Two-step sign-in is on.' })).toHaveText(/^Two-step sign-in is on\. \d+ other session\(s\) signed out\.$/);
  const recovery = await page.getByTestId('recovery-codes').locator('code').allTextContents();
  expect(recovery).toHaveLength(10);
  return { secret, recovery, step: first.step };
}

async function apiSignIn(request: APIRequestContext, stack: Stack, who: { email: string; password: string }) {
  const res = await request.post('/api/login', { data: { email: who.email, password: who.password }, headers: { Origin: stack.url } });
  expect(res.status(), await res.text()).toBe(200);
  return (await res.json()) as { secondFactor?: string; csrfToken?: string };
}

test('two-step sign-in: enable on the account page, sign in with a code, then with a recovery code once', async ({ admin, browser, playwright, stack }) => {
  test.setTimeout(240_000);
  const tess = person('tess');
  expect((await admin.post('/api/users', tess)).status()).toBe(201);
  const context = await browser.newContext({ baseURL: stack.url });
  const page = await context.newPage();
  await signInPage(page, tess);
  await page.waitForURL((u) => u.pathname === '/');
  await page.goto('/account');
  await ready(page);
  await expect(page.getByTestId('totp-status')).toHaveText('Off. Add a code from an authenticator app to your password.');
  const { secret, recovery, step: enabledAt } = await enableOnAccountPage(page);
  // The secret is never returned again.
  const status = await page.request.get('/api/account/totp');
  expect(await status.json()).toEqual({ enabled: true, recoveryCodesLeft: 10 });
  expect(await status.text()).not.toContain(secret);

  // Sign out; the password alone no longer signs in: the page asks for the code.
  await signOutThroughUi(page);
  await page.waitForURL('**/login');
  await signInPage(page, tess);
  await expect(page.getByTestId('second-factor-step')).toBeVisible();
  expect((await page.request.get('/api/session')).status()).toBe(401);
  await page.getByLabel('Code').fill('000000x');
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('alert')).toContainText('code');
  const signIn = await codeAfter(secret, enabledAt);
  await page.getByLabel('Code').fill(signIn.code);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL((u) => u.pathname === '/');
  expect((await page.request.get('/api/session')).status()).toBe(200);

  // The code just used is refused on another sign-in in its window (replay).
  const other = await playwright.request.newContext({ baseURL: stack.url });
  expect(await apiSignIn(other, stack, tess)).toEqual({ secondFactor: 'totp' });
  const replay = await other.post('/api/login/second-factor', { data: { code: signIn.code }, headers: { Origin: stack.url } });
  expect(replay.status()).toBe(401);
  expect(await errorCode(replay)).toBe('SECOND_FACTOR_REPLAYED');

  // Sign out, sign in with a recovery code; the same recovery code then fails.
  await signOutThroughUi(page);
  await page.waitForURL('**/login');
  await signInPage(page, tess);
  await page.getByLabel('Code').fill(recovery[0]!);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL((u) => u.pathname === '/');
  await page.goto('/account');
  await ready(page);
  await expect(page.getByTestId('totp-status')).toContainText('9 recovery code(s) left');
  await signOutThroughUi(page);
  await page.waitForURL('**/login');
  await signInPage(page, tess);
  await page.getByLabel('Code').fill(recovery[0]!);
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('alert')).toHaveText('This recovery code was already used.');
  await page.getByLabel('Code').fill(recovery[1]!);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL((u) => u.pathname === '/');

  // History shows enabling and the recovery codes' use.
  const ops = ((await (await page.request.get('/api/history')).json()) as { history: Array<{ operation: string }> }).history.map((h) => h.operation);
  expect(ops).toEqual(expect.arrayContaining(['totp_enable', 'recovery_code_use']));

  // Turning off needs the password; then the password alone signs in again.
  await page.goto('/account');
  await ready(page);
  await page.getByLabel('Current password or code').fill('not the password at all');
  await page.getByRole('button', { name: 'Turn off two-step sign-in' }).click();
  await expect(page.getByRole('alert')).toHaveText('The current password is wrong.');
  await page.getByLabel('Current password or code').fill(tess.password);
  await page.getByRole('button', { name: 'Turn off two-step sign-in' }).click();
  await expect(page.getByTestId('totp-status')).toHaveText('Off. Add a code from an authenticator app to your password.');
  expect((await apiSignIn(other, stack, tess)).csrfToken).toEqual(expect.any(String));
  await other.dispose();
  await context.close();
});

test('second-factor routes: unauthorised, CSRF, oversized, malformed, API tokens refused, guessing throttled', async ({ admin, playwright, stack }) => {
  test.setTimeout(120_000);
  const origin = { Origin: stack.url };
  const anon = await playwright.request.newContext({ baseURL: stack.url });
  for (const [method, path] of [
    ['GET', '/api/account/totp'],
    ['POST', '/api/account/totp'],
    ['POST', '/api/account/totp/enable'],
    ['POST', '/api/account/totp/disable'],
    ['POST', '/api/account/totp/recovery-codes'],
    ['GET', '/api/security-policy'],
    ['POST', '/api/security-policy']
  ] as const) {
    const res = method === 'GET' ? await anon.get(path) : await anon.post(path, { data: {}, headers: origin });
    expect(res.status(), `${method} ${path}`).toBe(401);
  }
  // No challenge cookie: nothing to complete.
  const none = await anon.post('/api/login/second-factor', { data: { code: '123456' }, headers: origin });
  expect([none.status(), await errorCode(none)]).toEqual([401, 'SECOND_FACTOR_EXPIRED']);
  // A user is not an administrator.
  const uma = person('uma');
  expect((await admin.post('/api/users', uma)).status()).toBe(201);
  const user = await playwright.request.newContext({ baseURL: stack.url });
  const { csrfToken } = await apiSignIn(user, stack, uma);
  const headers = { ...origin, 'X-CSRF-Token': csrfToken! };
  expect((await user.get('/api/security-policy')).status()).toBe(403);
  expect((await user.post('/api/security-policy', { data: { requireAdminSecondFactor: false }, headers })).status()).toBe(403);
  // CSRF: no token, another origin.
  expect((await user.post('/api/account/totp', { data: {}, headers: origin })).status()).toBe(403);
  expect((await user.post('/api/account/totp', { data: {}, headers: { Origin: 'https://evil.test', 'X-CSRF-Token': csrfToken! } })).status()).toBe(403);
  expect((await anon.post('/api/login/second-factor', { data: { code: '123456' }, headers: { Origin: 'https://evil.test' } })).status()).toBe(403);
  // Set up by API, computing codes as an app would.
  const setup = (await (await user.post('/api/account/totp', { data: {}, headers })).json()) as { secret: string };
  const big = await user.post('/api/account/totp/enable', { data: { code: 'x'.repeat(5000) }, headers });
  expect([big.status(), await errorCode(big)]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  for (const bad of [{ code: 123456 }, { code: '12345' }, { code: 'abc' }, {}]) {
    const r = await user.post('/api/account/totp/enable', { data: bad, headers });
    expect([r.status(), await errorCode(r)], JSON.stringify(bad)).toEqual([400, 'WRONG_VALUE']);
  }
  const notJson = await user.post('/api/account/totp/enable', { data: 'not json', headers: { ...headers, 'content-type': 'application/json' } });
  expect(notJson.status()).toBe(400);
  const on = await user.post('/api/account/totp/enable', { data: { code: (await codeAfter(setup.secret, 0)).code }, headers });
  expect(on.status(), await on.text()).toBe(200);
  // An API token of this user cannot manage the second factor.
  const tok = (await (await user.post('/api/tokens', { data: { name: 'script' }, headers })).json()) as { token: string };
  const bearer = await anon.get('/api/account/totp', { headers: { Authorization: `Bearer ${tok.token}` } });
  expect(bearer.status()).toBe(403);
  const bearerOff = await anon.post('/api/account/totp/disable', { data: { password: uma.password }, headers: { Authorization: `Bearer ${tok.token}` } });
  expect(bearerOff.status()).toBe(403);

  // Guessing: wrong codes end the challenge after five; then the throttle answers 429 with Retry-After.
  const guesser = await playwright.request.newContext({ baseURL: stack.url });
  expect(await apiSignIn(guesser, stack, uma)).toEqual({ secondFactor: 'totp' });
  const codes: number[] = [];
  for (let i = 0; i < 5; i++) codes.push((await guesser.post('/api/login/second-factor', { data: { code: String(100000 + i) }, headers: origin })).status());
  expect(codes).toEqual([401, 401, 401, 401, 401]);
  const ended = await guesser.post('/api/login/second-factor', { data: { code: '999999' }, headers: origin });
  expect(await errorCode(ended)).toBe('SECOND_FACTOR_EXPIRED');
  // Past the free attempts each guess waits 1 s, 2 s, 4 s...: on a loaded machine a sign-in can outlast the
  // first delay, so guess on (fresh challenges) until the throttle answers, which must be within a few.
  let slowed: APIResponse | undefined;
  for (let i = 0; i < 4 && !slowed; i++) {
    expect(await apiSignIn(guesser, stack, uma)).toEqual({ secondFactor: 'totp' });
    const r = await guesser.post('/api/login/second-factor', { data: { code: '999999' }, headers: origin });
    if (r.status() === 429) slowed = r;
    else expect(r.status()).toBe(401);
  }
  expect(slowed?.status()).toBe(429);
  expect(await errorCode(slowed!)).toBe('RATE_LIMITED');
  expect(Number(slowed!.headers()['retry-after'])).toBeGreaterThanOrEqual(1);

  // Uma lost her phone and codes: a user may not remove it, an administrator may (admin page); then the
  // password alone signs her in again.
  const { users } = (await (await admin.get('/api/users')).json()) as { users: Array<{ id: string; email: string }> };
  const umaId = users.find((x) => x.email === uma.email)!.id;
  expect((await user.delete(`/api/users/${umaId}/second-factor`, { headers })).status()).toBe(403);
  expect((await admin.page.request.delete(`/api/users/${umaId}/second-factor`, { headers: origin })).status()).toBe(403);
  await admin.page.goto('/admin');
  await ready(admin.page);
  const row = admin.page.getByTestId('user-row').filter({ hasText: uma.email });
  await row.getByRole('button', { name: 'Remove two-step sign-in' }).click();
  await expect(row.getByRole('status')).toHaveText('Two-step sign-in removed; the password alone signs in.');
  const back = await playwright.request.newContext({ baseURL: stack.url });
  expect((await apiSignIn(back, stack, uma)).csrfToken).toEqual(expect.any(String));
  for (const c of [anon, user, guesser, back]) await c.dispose();
});

test('an administrator requires a second factor for administrators: one without is sent to set it up first', async ({ admin, browser, playwright, stack }) => {
  test.setTimeout(240_000);
  const tara = person('tara', 'admin');
  const vic = person('vic', 'admin');
  for (const p of [tara, vic]) expect((await admin.post('/api/users', p)).status()).toBe(201);
  const taraCtx = await browser.newContext({ baseURL: stack.url });
  const taraPage = await taraCtx.newPage();
  await signInPage(taraPage, tara);
  await taraPage.waitForURL((u) => u.pathname === '/');
  await taraPage.goto('/admin');
  await ready(taraPage);
  const box = taraPage.getByLabel('Require a second factor for administrators');
  // click, not check(): the refusal puts the box back, which check() would take for a failed click.
  await box.click();
  await expect(taraPage.getByTestId('policy-message')).toHaveText('Set up a second factor for your own account first (Account page).');
  await expect(box).not.toBeChecked();
  await taraPage.goto('/account');
  await ready(taraPage);
  await enableOnAccountPage(taraPage);
  await taraPage.goto('/admin');
  await ready(taraPage);
  try {
    await taraPage.getByLabel('Require a second factor for administrators').check();
    await expect(taraPage.getByTestId('policy-message')).toHaveText('Administrators must now use a second factor.');

    // Vic, an administrator without a second factor, signs in: sent to set it up; no admin page or route.
    const vicCtx = await browser.newContext({ baseURL: stack.url });
    const vicPage = await vicCtx.newPage();
    await signInPage(vicPage, vic);
    await vicPage.waitForURL('**/account?second-factor=required');
    await ready(vicPage);
    await expect(vicPage.getByTestId('second-factor-required')).toBeVisible();
    const refused = await vicPage.request.get('/api/users');
    expect([refused.status(), await errorCode(refused)]).toEqual([403, 'SECOND_FACTOR_REQUIRED']);
    await vicPage.goto('/admin');
    await vicPage.waitForURL('**/account?second-factor=required');
    // Tara, who has one, signs in with two steps as before.
    const api = await playwright.request.newContext({ baseURL: stack.url });
    expect(await apiSignIn(api, stack, tara)).toEqual({ secondFactor: 'totp' });
    await api.dispose();

    await ready(vicPage);
    await enableOnAccountPage(vicPage);
    await vicPage.goto('/admin');
    await ready(vicPage);
    await expect(vicPage.getByRole('heading', { name: 'Users' })).toBeVisible();
    const { users } = (await (await vicPage.request.get('/api/users')).json()) as { users: Array<{ email: string }> };
    expect(users.map((x) => x.email)).toContain(vic.email);
    await vicCtx.close();
  } finally {
    // Other suites sign the fixture administrator in with a password alone: the policy goes off again.
    await taraPage.goto('/admin');
    await ready(taraPage);
    await taraPage.getByLabel('Require a second factor for administrators').uncheck();
    await expect(taraPage.getByTestId('policy-message')).toHaveText('A second factor is now optional for administrators.');
  }
  const h = ((await (await taraPage.request.get('/api/history')).json()) as { history: Array<{ operation: string; detail: string }> }).history;
  expect(h.filter((x) => x.operation === 'security_policy').map((x) => x.detail)).toEqual(['second factor for administrators optional', 'second factor for administrators required']);
  expect((await admin.get('/api/users')).status()).toBe(200);
  await taraCtx.close();
});
