import { test, expect, ADMIN } from '../fixtures.js';
import { ready, signOutThroughUi } from '../helpers.js';

test('first run: setup creates the admin, then the dashboard lists the five relays online', async ({ page, stack }) => {
  await page.goto('/');
  await ready(page);
  if (page.url().endsWith('/setup')) {
    await expect(page.getByRole('heading', { name: 'Set up kofn' })).toBeVisible();
    await page.getByLabel('E-mail').fill(ADMIN.email);
    await page.getByLabel('Display name').fill(ADMIN.displayName);
    await page.getByLabel(/^Password/).fill(ADMIN.password);
    await page.getByRole('button', { name: 'Create administrator' }).click();
  } else {
    await expect(page).toHaveURL(/\/login$/);
    await page.getByLabel('E-mail').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await expect(page.getByRole('heading', { level: 1, name: 'kofn' })).toBeVisible();
  await expect(page.getByTestId('account-menu')).toContainText(ADMIN.displayName);
  await expect(page.getByRole('heading', { name: 'Storage servers' })).toBeVisible();
  const rows = page.getByTestId('relay-row');
  await expect(rows).toHaveCount(stack.relays.length);
  for (const url of stack.relays) {
    const row = rows.filter({ hasText: url });
    await expect(row).toHaveCount(1);
    await expect(row.getByRole('cell', { name: 'online' })).toBeVisible();
  }
});

test('signing out leads back to the sign-in page, and the dashboard needs a session', async ({ admin }) => {
  const { page } = admin;
  await page.goto('/');
  await signOutThroughUi(page);
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
});

test('the coordinator sends security headers and a CSP', async ({ page }) => {
  const response = await page.goto('/login');
  const headers = response!.headers();
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
});
