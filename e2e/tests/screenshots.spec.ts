/**
 * How the product looks: the dashboard, an upload in progress and the help tour, saved as artifacts in
 * test-results/screenshots/ (and attached to the report). The help tour is walked through step by step.
 */
import { join } from 'node:path';
import { test, expect } from '../fixtures.js';
import { chooseSharing, makeFile, protectThroughUi, ready } from '../helpers.js';

const shots = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');

test('dashboard, upload in progress and help tour', async ({ admin }, testInfo) => {
  test.setTimeout(120_000);
  const { page } = admin;
  await page.setViewportSize({ width: 1280, height: 1000 });
  await page.goto('/');
  await chooseSharing(page, 3, 5);
  await protectThroughUi(page, makeFile('quarterly-report.pdf', 700_000), 'quarterly-report.pdf');
  await protectThroughUi(page, makeFile('holiday-photos.zip', 1_500_000), 'holiday-photos.zip');
  await expect(page.getByTestId('relay-row').first()).not.toContainText('…');
  const dashboard = join(shots, 'dashboard.png');
  await page.screenshot({ path: dashboard, fullPage: true });
  await testInfo.attach('dashboard', { path: dashboard, contentType: 'image/png' });

  // An upload in progress: a large file, captured while it runs.
  await page.getByTestId('file-input').setInputFiles(makeFile('big-archive.tar', 48 * 1024 * 1024).path);
  const running = page.getByTestId('transfer').filter({ hasText: 'big-archive.tar' });
  await expect(running).toHaveAttribute('data-status', 'running');
  await expect.poll(async () => Number(await running.locator('progress').getAttribute('value')), { timeout: 30_000 }).toBeGreaterThan(5);
  const uploading = join(shots, 'upload-in-progress.png');
  await page.screenshot({ path: uploading });
  await testInfo.attach('upload in progress', { path: uploading, contentType: 'image/png' });
  await running.getByRole('button', { name: 'Cancel' }).click();
  await expect(running).toHaveAttribute('data-status', 'cancelled');

  await ready(page);
  // Help lives in the account menu in the header (issue #17 application shell): the tour over the page.
  await page.getByTestId('account-menu').click();
  await page.getByRole('menuitem', { name: 'Help' }).click();
  const help = page.locator('.driver-popover');
  await expect(help.locator('.driver-popover-title')).toHaveText('Welcome to kofn');
  const helpShot = join(shots, 'help.png');
  await page.screenshot({ path: helpShot });
  await testInfo.attach('help tour', { path: helpShot, contentType: 'image/png' });
  const titles = ['Protect files', 'Threshold and servers', 'Transfers', 'Your files', 'Storage servers', 'Used space', 'Operation history', 'Shared with me and by me', 'Navigation', 'Your account'];
  for (const title of titles) {
    await help.getByRole('button', { name: 'Next' }).click();
    await expect(help.locator('.driver-popover-title')).toHaveText(title);
  }
  await help.getByRole('button', { name: 'Done' }).click();
  await expect(help).toHaveCount(0);
});

test('a cancelled upload leaves nothing behind', async ({ admin }) => {
  const { page } = admin;
  await page.goto('/');
  // The upload cancelled above is not listed, and its deletion job ran.
  await expect(page.getByTestId('file-row').filter({ hasText: 'big-archive.tar' })).toHaveCount(0);
  await expect
    .poll(
      async () => {
        const { jobs } = (await (await admin.get('/api/jobs')).json()) as { jobs: Array<{ kind: string; status: string }> };
        return jobs.filter((j) => j.kind === 'delete-file').every((j) => j.status === 'done');
      },
      { timeout: 20_000 }
    )
    .toBe(true);
});
