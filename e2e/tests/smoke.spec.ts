import { test, expect } from '../fixtures.js';

test('home page is served and lists the five relays online', async ({ page, stack }) => {
  const response = await page.goto('/');
  expect(response?.status()).toBe(200);
  await expect(page.getByRole('heading', { level: 1, name: 'kofn' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Storage servers' })).toBeVisible();
  const rows = page.getByTestId('relay-row');
  await expect(rows).toHaveCount(stack.relays.length);
  for (const url of stack.relays) {
    const row = rows.filter({ hasText: url });
    await expect(row).toHaveCount(1);
    await expect(row.getByRole('cell', { name: 'online' })).toBeVisible();
  }
});

test('the coordinator sends security headers and a CSP', async ({ page }) => {
  const response = await page.goto('/');
  const headers = response!.headers();
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
});
