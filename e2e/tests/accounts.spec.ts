/**
 * Issue #19, password lifecycle and user administration through the real coordinator: a user changes
 * their password on the account page and their other browser is signed out; "sign out everywhere else";
 * an administrator disables an account and its open page loses its session at once; the last
 * administrator cannot demote themselves; the routes' HTTP edges (sign-in, role, CSRF, body size).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { APIRequestContext } from '@playwright/test';
import { test, expect, ADMIN, type Stack } from '../fixtures.js';
import { chooseSharing, errorCode, makeFile, opfsSha256, protectThroughUi, ready, retrieveThroughUi, saveToOpfs } from '../helpers.js';

const ERIN = { email: 'erin-accounts@kofn.test', displayName: 'Erin', password: 'erin first password' };

async function signIn(request: APIRequestContext, stack: Stack, email: string, password: string) {
  const res = await request.post('/api/login', { data: { email, password }, headers: { Origin: stack.url } });
  expect(res.status(), await res.text()).toBe(200);
  const { csrfToken, user } = (await res.json()) as { csrfToken: string; user: { id: string } };
  return { headers: { Origin: stack.url, 'X-CSRF-Token': csrfToken }, id: user.id };
}

test('change password on the account page: other sessions end; sign out everywhere else; disabling ends a session at once', async ({ admin, browser, playwright, stack }) => {
  test.setTimeout(120_000);
  expect([201, 409]).toContain((await admin.post('/api/users', ERIN)).status());
  const other = await playwright.request.newContext({ baseURL: stack.url });
  await signIn(other, stack, ERIN.email, ERIN.password);
  expect((await other.get('/api/session')).status()).toBe(200);

  const context = await browser.newContext({ baseURL: stack.url });
  const page = await context.newPage();
  await page.goto('/login');
  await ready(page);
  await page.getByLabel('E-mail').fill(ERIN.email);
  await page.getByLabel('Password').fill(ERIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await ready(page);
  await page.getByTestId('account-menu').click();
  await page.getByRole('menuitem', { name: 'Account and security' }).click();
  await page.waitForURL('**/account');
  await ready(page);
  await expect(page.getByTestId('session-row')).toHaveCount(2);
  await page.getByLabel('Current password').fill(ERIN.password);
  await page.getByLabel(/^New password/).fill('password123');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('alert')).toHaveText(/^This new password is among the most common passwords, which attackers try first \(kofn refuses \d{4,} of them\); choose another/);
  // One from the shipped breach list (not a hand-picked one), with its case changed.
  await page.getByLabel(/^New password/).fill('Manchester');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('alert')).toContainText('among the most common passwords');
  await page.getByLabel(/^New password/).fill('erin second password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.locator('main p[role="status"]')).toHaveText('Password changed. 1 other session(s) signed out.');
  expect((await other.get('/api/session')).status()).toBe(401);
  await expect(page.getByTestId('session-row')).toHaveCount(1);

  // Sign in elsewhere again, then "sign out everywhere else" from the page.
  await signIn(other, stack, ERIN.email, 'erin second password');
  await page.reload();
  await expect(page.getByTestId('session-row')).toHaveCount(2);
  await page.getByRole('button', { name: 'Sign out everywhere else' }).click();
  await expect(page.locator('main p[role="status"]')).toHaveText('1 other session(s) signed out.');
  expect((await other.get('/api/session')).status()).toBe(401);

  // The administrator disables Erin: her open page's next request is refused.
  const { users } = (await (await admin.get('/api/users')).json()) as { users: Array<{ id: string; email: string }> };
  const erin = users.find((u) => u.email === ERIN.email)!;
  expect((await page.request.get('/api/session')).status()).toBe(200);
  const disabled = await admin.page.request.patch(`/api/users/${erin.id}`, { data: { disabled: true }, headers: { Origin: stack.url, 'X-CSRF-Token': admin.csrfToken } });
  expect(disabled.status()).toBe(200);
  expect((await page.request.get('/api/session')).status()).toBe(401);
  // Enabled again (and her password reset to the first one, for reruns).
  const back = await admin.page.request.patch(`/api/users/${erin.id}`, {
    data: { disabled: false, password: ERIN.password, mustChangePassword: false },
    headers: { Origin: stack.url, 'X-CSRF-Token': admin.csrfToken }
  });
  expect(back.status()).toBe(200);
  await signIn(other, stack, ERIN.email, ERIN.password);
  await other.dispose();
  await context.close();
});

test('account and user routes: sign-in, administrators only, CSRF, body size, the last administrator', async ({ admin, playwright, stack }) => {
  const anon = await playwright.request.newContext({ baseURL: stack.url });
  expect((await anon.get('/api/account/sessions')).status()).toBe(401);
  expect((await anon.post('/api/account/password', { data: {}, headers: { Origin: stack.url } })).status()).toBe(401);
  expect([201, 409]).toContain((await admin.post('/api/users', ERIN)).status());
  const erin = await signIn(anon, stack, ERIN.email, ERIN.password);
  // A user is not an administrator.
  const self = await anon.patch(`/api/users/${erin.id}`, { data: { role: 'admin' }, headers: erin.headers });
  expect(self.status()).toBe(403);
  // No CSRF token, or no Origin: refused.
  expect((await anon.delete('/api/account/sessions', { headers: { Origin: stack.url } })).status()).toBe(403);
  expect((await anon.post('/api/account/password', { data: { currentPassword: ERIN.password, newPassword: 'violet tractor lantern' } })).status()).toBe(403);
  const big = await anon.post('/api/account/password', { data: { currentPassword: 'x'.repeat(70_000) }, headers: erin.headers });
  expect(big.status()).toBe(413);
  // The administrator cannot demote or disable themselves while the only one.
  const { users } = (await (await admin.get('/api/users')).json()) as { users: Array<{ id: string; email: string; role: string; disabled: boolean }> };
  const me = users.find((u) => u.email === ADMIN.email)!;
  expect(users.filter((u) => u.role === 'admin' && !u.disabled)).toHaveLength(1);
  const demote = await admin.page.request.patch(`/api/users/${me.id}`, { data: { role: 'user' }, headers: { Origin: stack.url, 'X-CSRF-Token': admin.csrfToken } });
  expect(demote.status()).toBe(409);
  expect(((await demote.json()) as { error: { code: string } }).error.code).toBe('LAST_ADMIN');
  await anon.dispose();
});

test('an account whose password an administrator set must change it before anything else', async ({ admin, browser, stack }) => {
  test.setTimeout(90_000);
  const JO = { email: `jo-${Date.now()}@kofn.test`, displayName: 'Jo', password: 'jo initial password', mustChangePassword: true };
  expect((await admin.post('/api/users', JO)).status()).toBe(201);
  const context = await browser.newContext({ baseURL: stack.url });
  const page = await context.newPage();
  await page.goto('/login');
  await ready(page);
  await page.getByLabel('E-mail').fill(JO.email);
  await page.getByLabel('Password').fill(JO.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByTestId('must-change')).toBeVisible();
  const refused = await page.request.get('/api/files');
  expect(refused.status()).toBe(403);
  expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('PASSWORD_CHANGE_REQUIRED');
  await page.getByLabel('Current password').fill(JO.password);
  await page.getByLabel(/^New password/).fill('jo own password 2');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.locator('main p[role="status"]')).toContainText('Password changed.');
  await expect(page.getByTestId('must-change')).toHaveCount(0);
  expect((await page.request.get('/api/files')).status()).toBe(200);
  await page.goto('/');
  await expect(page).toHaveURL(/\/$/);
  await context.close();
});

test('the administration page creates, disables, enables accounts and refuses to demote the last administrator', async ({ admin, playwright, stack }) => {
  test.setTimeout(90_000);
  const { page } = admin;
  const email = `kim-${Date.now()}@kofn.test`;
  await page.goto('/admin');
  await ready(page);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Display name').fill('Kim');
  await page.getByLabel('Initial password').fill('kim initial password');
  await page.getByRole('button', { name: 'Create user' }).click();
  const row = page.getByTestId('user-row').filter({ hasText: email });
  await expect(row).toHaveAttribute('data-disabled', 'false');
  // Kim signs in; the account must change its password (the box was ticked by default).
  const kim = await playwright.request.newContext({ baseURL: stack.url });
  await signIn(kim, stack, email, 'kim initial password');
  expect(((await (await kim.get('/api/files')).json()) as { error: { code: string } }).error.code).toBe('PASSWORD_CHANGE_REQUIRED');
  await row.getByRole('button', { name: 'Disable' }).click();
  await expect(row).toHaveAttribute('data-disabled', 'true');
  expect((await kim.get('/api/session')).status()).toBe(401);
  await row.getByRole('button', { name: 'Enable' }).click();
  await expect(row).toHaveAttribute('data-disabled', 'false');
  const me = page.getByTestId('user-row').filter({ hasText: ADMIN.email });
  // One's own row offers no Delete (the coordinator refuses it; a button that can only fail is a defect).
  await expect(me).toContainText('(you)');
  await expect(me.getByRole('button', { name: 'Delete' })).toHaveCount(0);
  await expect(row.getByRole('button', { name: 'Delete' })).toHaveCount(1);
  // Nor Disable or a role change: one's own account is not changed from this list. The rule holds at the
  // coordinator too: the last enabled administrator cannot demote themselves.
  await expect(me.getByRole('button', { name: 'Make user' })).toHaveCount(0);
  await expect(me.getByRole('button', { name: 'Disable' })).toHaveCount(0);
  const { user: self } = (await (await admin.get('/api/session')).json()) as { user: { id: string } };
  const demote = await page.request.patch(`/api/users/${self.id}`, { data: { role: 'user' }, headers: { Origin: stack.url, 'X-CSRF-Token': admin.csrfToken } });
  expect(demote.status()).toBe(409);
  expect(await errorCode(demote)).toBe('LAST_ADMIN');
  // Kim has no two-step sign-in: nothing to remove, so no button for it.
  await expect(row.getByRole('button', { name: 'Remove two-step sign-in' })).toHaveCount(0);
  await kim.dispose();
});

test('an administrator deletes an account: closed at once, its files leave every relay, then the account is gone', async ({ admin, browser, playwright, stack }) => {
  test.setTimeout(180_000);
  const GONE = { email: 'gone-accounts@kofn.test', displayName: 'Gone', password: 'gone first password' };
  expect((await admin.post('/api/users', GONE)).status()).toBe(201);
  const context = await browser.newContext({ baseURL: stack.url });
  const page = await context.newPage();
  const goneSession = await signIn(page.request, stack, GONE.email, GONE.password);
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  await protectThroughUi(page, makeFile('gone-file.bin', 50_000), 'gone-file.bin');
  const { files } = (await (await page.request.get('/api/files')).json()) as { files: Array<{ id: string; name: string }> };
  const fileId = files.find((f) => f.name === 'gone-file.bin')!.id;
  const onRelays = () =>
    readdirSync(join(process.env.KOFN_E2E_DATA_DIR!, 'relays'), { recursive: true })
      .map(String)
      .filter((p) => p.includes(fileId));
  expect(onRelays().length).toBeGreaterThan(0);

  // The HTTP edges first: no session, not an administrator, no CSRF token, unknown id, oneself.
  const anon = await playwright.request.newContext({ baseURL: stack.url });
  const users = (await (await admin.get('/api/users')).json()) as { users: Array<{ id: string; email: string }> };
  const goneId = users.users.find((u) => u.email === GONE.email)!.id;
  const adminId = users.users.find((u) => u.email === ADMIN.email)!.id;
  expect((await anon.delete(`/api/users/${goneId}`, { headers: { Origin: stack.url } })).status()).toBe(401);
  await anon.dispose();
  const asUser = await page.request.delete(`/api/users/${adminId}`, { headers: goneSession.headers });
  expect(asUser.status()).toBe(403);
  expect((await admin.page.request.delete(`/api/users/${goneId}`, { headers: { Origin: stack.url } })).status()).toBe(403);
  expect((await admin.del('/api/users/00000000-0000-0000-0000-000000000000')).status()).toBe(404);
  const self = await admin.del(`/api/users/${adminId}`);
  expect(self.status()).toBe(403);
  expect(((await self.json()) as { error: { message: string } }).error.message).toBe('You cannot delete your own account; another administrator can.');

  // Through the administration page, with its confirmation.
  await admin.page.goto('/admin');
  await ready(admin.page);
  const row = admin.page.getByTestId('user-row').filter({ hasText: GONE.email });
  await row.getByRole('button', { name: 'Delete' }).click();
  const dialog = admin.page.getByTestId('delete-user-dialog');
  await expect(dialog).toContainText('every file it owns is deleted from every storage server');
  await dialog.getByRole('button', { name: 'Delete account' }).click();
  await expect(row.getByRole('status')).toHaveText('Deleting: the account is closed and its files are being removed.');
  // Closed at once: the open session is refused and signing in fails.
  expect((await page.request.get('/api/session')).status()).toBe(401);
  expect((await page.request.post('/api/login', { data: { email: GONE.email, password: GONE.password }, headers: { Origin: stack.url } })).status()).toBe(401);
  // The jobs delete the shares on every relay, then the account itself.
  await expect.poll(onRelays, { timeout: 90_000 }).toEqual([]);
  await expect.poll(async () => ((await (await admin.get('/api/users')).json()) as { users: Array<{ email: string }> }).users.map((u) => u.email), { timeout: 90_000 }).not.toContain(GONE.email);
  await context.close();
});

test('the account page spaces its sections: each heading stands clear of the content above it', async ({ admin }) => {
  const { page } = admin;
  await page.goto('/account');
  await ready(page);
  const headings = page.locator('main section > h2');
  const count = await headings.count();
  expect(count).toBeGreaterThanOrEqual(3);
  for (let i = 1; i < count; i++) {
    const gap = await headings.nth(i).evaluate((h) => {
      const section = h.parentElement!;
      const before = section.previousElementSibling;
      return before ? h.getBoundingClientRect().top - before.getBoundingClientRect().bottom : Infinity;
    });
    // At least 1.5rem (24 px) between a section's heading and whatever ends above it.
    expect(gap, await headings.nth(i).innerText()).toBeGreaterThanOrEqual(24);
  }
});

test('an administrator deletes an account and transfers its files: the recipient owns and retrieves them, byte-identical', async ({ admin, browser, stack }) => {
  test.setTimeout(240_000);
  const stamp = Date.now();
  const FROM = { email: `leaver-${stamp}@kofn.test`, displayName: 'Leaver', password: 'leaver first password', mustChangePassword: false };
  const TO = { email: `heir-${stamp}@kofn.test`, displayName: 'Heir', password: 'heir first password', mustChangePassword: false };
  expect((await admin.post('/api/users', FROM)).status()).toBe(201);
  expect((await admin.post('/api/users', TO)).status()).toBe(201);
  const leaver = await browser.newContext({ baseURL: stack.url });
  const lp = await leaver.newPage();
  await signIn(lp.request, stack, FROM.email, FROM.password);
  await lp.goto('/');
  await chooseSharing(lp, 2, 3);
  const file = makeFile('handed-over.bin', 60_000);
  await protectThroughUi(lp, file, 'handed-over.bin');

  await admin.page.goto('/admin');
  await ready(admin.page);
  const row = admin.page.getByTestId('user-row').filter({ hasText: FROM.email });
  await row.getByRole('button', { name: 'Delete' }).click();
  const dialog = admin.page.getByTestId('delete-user-dialog');
  // Deleting the files is the default; the administrator chooses the heir in the confirmation.
  await expect(dialog).toContainText('every file it owns is deleted from every storage server');
  await dialog.getByTestId('delete-user-files').selectOption({ label: `transfer to ${TO.email}` });
  await expect(dialog).toContainText(`its files become ${TO.email}'s`);
  await dialog.getByRole('button', { name: 'Delete account' }).click();
  await expect(row.getByRole('status')).toHaveText('Deleted: its files were transferred.');
  expect((await lp.request.get('/api/session')).status()).toBe(401);
  await leaver.close();
  // The account row goes (no file of it is left), so it no longer counts against the licence.
  await expect.poll(async () => ((await (await admin.get('/api/users')).json()) as { users: Array<{ email: string }> }).users.map((u) => u.email), { timeout: 90_000 }).not.toContain(FROM.email);
  // The licence's user count is the accounts that remain.
  const listed = ((await (await admin.get('/api/users')).json()) as { users: unknown[] }).users.length;
  expect(((await (await admin.get('/api/license')).json()) as { used: { users: number } }).used.users).toBe(listed);

  // The heir owns the file and rebuilds it from the relays, byte for byte.
  const heir = await browser.newContext({ baseURL: stack.url });
  const hp = await heir.newPage();
  await saveToOpfs(hp);
  await signIn(hp.request, stack, TO.email, TO.password);
  await hp.goto('/');
  await retrieveThroughUi(hp, 'handed-over.bin');
  expect(await opfsSha256(hp, 'handed-over.bin')).toBe(file.sha256);
  await heir.close();
});
