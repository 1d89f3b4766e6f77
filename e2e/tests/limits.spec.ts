/**
 * Licence limits as a person sees them, on a stack with a small custom licence: a file over the size
 * limit is refused before it is read, and storage running full is refused with a message.
 */
import { test, expect, ADMIN } from '../fixtures.js';
import { startStack, type RunningStack } from '../stack.js';
import { chooseSharing, makeFile } from '../helpers.js';

let stack: RunningStack;
test.beforeAll(async () => {
  // Starting a stack of its own (a coordinator and relays) can take over a minute on a loaded 2-core machine.
  test.setTimeout(180_000);
  // 3 relays, 10 users, 3 MB protected in all, 2 MB per file.
  stack = await startStack({ relays: 3, tier: 'Custom', custom: [3, 10, 3_000_000, 2_000_000] });
});
test.afterAll(async () => {
  await stack?.stop();
});

test('file too big and storage full are shown in the page', async ({ browser }) => {
  const context = await browser.newContext({ baseURL: stack.url });
  const page = await context.newPage();
  expect((await page.request.post('/api/setup', { data: ADMIN, headers: { Origin: stack.url } })).status()).toBe(201);
  await page.goto('/');
  await expect(page.getByText('Largest file the licence allows: 2 MB.')).toBeVisible();
  await chooseSharing(page, 2, 3);

  const big = makeFile('too-big.bin', 2_500_000);
  await page.getByTestId('file-input').setInputFiles(big.path);
  const refused = page.getByTestId('transfer').filter({ hasText: 'too-big.bin' });
  await expect(refused).toHaveAttribute('data-status', 'error');
  await expect(refused.getByRole('alert')).toHaveText('File too big, empty or wrong field. The licence allows files up to 2 MB.');

  const first = makeFile('fits.bin', 1_800_000);
  await page.getByTestId('file-input').setInputFiles(first.path);
  await expect(page.getByTestId('transfer').filter({ hasText: 'fits.bin' })).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  const second = makeFile('overflows.bin', 1_500_000);
  await page.getByTestId('file-input').setInputFiles(second.path);
  const full = page.getByTestId('transfer').filter({ hasText: 'overflows.bin' });
  await expect(full).toHaveAttribute('data-status', 'error', { timeout: 60_000 });
  await expect(full.getByRole('alert')).toHaveText('Storage limit reached: the licence allows no more protected data. Remove files or upgrade the licence.');
  await expect(page.getByTestId('usage-text')).toHaveText('Your files: 1.7 MiB of 3 MB (60.00%)');
  await context.close();
});
