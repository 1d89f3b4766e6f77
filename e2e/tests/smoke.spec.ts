import { test, expect, ADMIN } from '../fixtures.js';
import { ready, signOutThroughUi } from '../helpers.js';
import { startStack, type RunningStack } from '../stack.js';
import type { Page } from '@playwright/test';

async function expectDashboard(page: Page, relays: string[]): Promise<void> {
  await expect(page.getByRole('heading', { level: 1, name: 'kofn' })).toBeVisible();
  await expect(page.getByTestId('account-menu')).toContainText(ADMIN.displayName);
  await expect(page.getByRole('heading', { name: 'Storage servers' })).toBeVisible();
  const rows = page.getByTestId('relay-row');
  await expect(rows).toHaveCount(relays.length);
  for (const url of relays) {
    const row = rows.filter({ hasText: url });
    await expect(row).toHaveCount(1);
    await expect(row.getByRole('cell', { name: 'online' })).toBeVisible();
  }
}

// The shared stack's admin may already exist (other specs set it up through the API), so the first-run
// path gets a fresh stack of its own: it always starts at /setup and the test takes no branch.
let fresh: RunningStack;
test.beforeAll(async () => {
  // Starting a stack of its own (a coordinator and relays) can take over a minute on a loaded 2-core machine.
  test.setTimeout(180_000);
  fresh = await startStack({ relays: 3 });
});
test.afterAll(async () => {
  await fresh?.stop();
});

test('first run: setup creates the admin, then the dashboard lists the relays online', async ({ page }) => {
  await page.goto(`${fresh.url}/`);
  await ready(page);
  await expect(page).toHaveURL(/\/setup$/);
  await expect(page.getByRole('heading', { name: 'Set up kofn' })).toBeVisible();
  await page.getByLabel('E-mail').fill(ADMIN.email);
  await page.getByLabel('Display name').fill(ADMIN.displayName);
  await page.getByLabel(/^Password/).fill(ADMIN.password);
  await page.getByRole('button', { name: 'Create administrator' }).click();
  await expectDashboard(page, fresh.relays);
  // Setup happens once: a second visit without a session goes to the sign-in page.
  await page.context().clearCookies();
  await page.goto(`${fresh.url}/setup`);
  await expect(page).toHaveURL(/\/login$/);
});

test('signing in through the page shows the dashboard with the five relays online', async ({ admin, browser, stack }) => {
  // `admin` made sure the account exists; this page's own context has no session yet.
  expect(admin.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const context = await browser.newContext({ baseURL: stack.url });
  const page = await context.newPage();
  await page.goto('/');
  await ready(page);
  await expect(page).toHaveURL(/\/login$/);
  await page.getByLabel('E-mail').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expectDashboard(page, stack.relays);
  await context.close();
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
