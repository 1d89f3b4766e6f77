/**
 * Issue #17: every page in both themes has no serious or critical axe violation, works by keyboard with a
 * visible focus ring, and is saved as a screenshot at 1,280 and 390 px in light and dark
 * (test-results/screenshots/, not committed) to be looked at.
 */
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { test, expect } from '../fixtures.js';
import { chooseSharing, makeFile, protectThroughUi, ready } from '../helpers.js';

const shots = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');
/**
 * The screenshots are for people to look at (the handbook: look at every page at phone and desktop widths
 * before calling UI work done), not assertions: `npm test` leaves them out (KOFN_E2E_SCREENSHOTS=0,
 * e2e/run-all.mjs), since some forty full-page captures cost its CPU-bound run minutes; a plain
 * `npx playwright test a11y` takes them.
 */
const takeShots = process.env.KOFN_E2E_SCREENSHOTS !== '0';
async function shot(page: Page, file: string, fullPage = false): Promise<void> {
  if (takeShots) await page.screenshot({ path: join(shots, file), fullPage });
}
const SIGNED_IN = ['/', '/admin', '/account', '/docs', '/about'];
const SIGNED_OUT = ['/login', '/setup', '/docs', '/about'];

async function seriousViolations(page: Page): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

async function visit(page: Page, path: string, theme: 'light' | 'dark'): Promise<void> {
  await page.emulateMedia({ colorScheme: theme });
  await page.goto(path);
  await ready(page);
  await page.waitForLoadState('networkidle');
}

const slug = (path: string) => (path === '/' ? 'dashboard' : path.slice(1));

// One test per theme and part (the pages; the overlays over them), each with its own time budget: as a single
// walk it took close to its three minutes with the other lane running beside it on a loaded 2-core machine.
for (const theme of ['light', 'dark'] as const) {
  test(`signed in, ${theme}: every page, no serious axe violation; screenshots at 1,280 and 390 px`, async ({ admin }) => {
    test.setTimeout(180_000);
    const { page } = admin;
    await page.goto('/');
    await chooseSharing(page, 2, 3);
    await protectThroughUi(page, makeFile(`a11y-pages-${theme}.pdf`, 50_000), `a11y-pages-${theme}.pdf`);
    for (const path of SIGNED_IN) {
      await page.setViewportSize({ width: 1280, height: 900 });
      await visit(page, path, theme);
      expect(await seriousViolations(page), `${path} ${theme}`).toEqual([]);
      await shot(page, `${slug(path)}-1280-${theme}.png`, true);
      // At 390 px the shell changes (compact navigation, cards for rows): axe runs there on the dashboard, and
      // on every page when the screenshots are taken (under `npm test` the other pages' phone scans, the same
      // shell over the same content, are left out of the CPU-bound run).
      if (path !== '/' && !takeShots) continue;
      await page.setViewportSize({ width: 390, height: 844 });
      await visit(page, path, theme);
      expect(await seriousViolations(page), `${path} ${theme} 390`).toEqual([]);
      await shot(page, `${slug(path)}-390-${theme}.png`, true);
    }
  });

  test(`signed in, ${theme}: account menu, remove confirmation, help tour and file menu, no serious axe violation`, async ({ admin }) => {
    test.setTimeout(180_000);
    const { page } = admin;
    const name = `a11y-report-${theme}.pdf`;
    await page.goto('/');
    await chooseSharing(page, 2, 3);
    await protectThroughUi(page, makeFile(name, 50_000), name);
    // The open account menu and the remove confirmation are pages of their own to a screen reader.
    await page.setViewportSize({ width: 1280, height: 900 });
    await visit(page, '/', theme);
    await page.getByTestId('account-menu').click();
    await expect(page.getByRole('menu')).toBeVisible();
    expect(await seriousViolations(page), `account menu ${theme}`).toEqual([]);
    await shot(page, `account-menu-${theme}.png`);
    await page.keyboard.press('Escape');
    await page
      .getByRole('button', { name: `Remove ${name}` })
      .first()
      .click();
    await expect(page.getByRole('alertdialog')).toBeVisible();
    expect(await seriousViolations(page), `confirm ${theme}`).toEqual([]);
    await shot(page, `confirm-remove-${theme}.png`);
    await page.keyboard.press('Escape');
    await expect(page.getByRole('alertdialog')).toBeHidden();
    // The help tour's popover over the part it describes, wide and on a phone; without its fade, which axe
    // would otherwise catch half-way (low contrast while fading in).
    await page.emulateMedia({ reducedMotion: 'reduce' });
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
      await visit(page, '/', theme);
      await page.getByTestId('account-menu').click();
      await page.getByRole('menuitem', { name: 'Help' }).click();
      const tour = page.locator('.driver-popover');
      await expect(tour).toContainText('Welcome to kofn');
      expect(await seriousViolations(page), `tour welcome ${theme} ${width}`).toEqual([]);
      // One step at a time, each awaited: a CI run once waited its whole budget for a Next button after
      // four clicks sent back to back, and could not say at which step the popover went.
      for (let step = 2; step <= 5; step++) {
        await tour.getByRole('button', { name: 'Next' }).click();
        await expect(tour.locator('.driver-popover-progress-text'), `tour step ${step} ${theme} ${width}`).toHaveText(`Step ${step} of 11`);
      }
      await expect(tour.locator('.driver-popover-title')).toHaveText('Your files');
      await expect(tour).toBeInViewport({ ratio: 1 });
      expect(await seriousViolations(page), `tour ${theme} ${width}`).toEqual([]);
      await shot(page, `tour-${width}-${theme}.png`);
      await page.keyboard.press('Escape');
      await expect(tour).toHaveCount(0);
    }
    await page.emulateMedia({ reducedMotion: null });
    // A file's actions menu on a phone.
    await page
      .getByRole('button', { name: `Actions for ${name}` })
      .first()
      .click();
    await expect(page.getByRole('menu')).toBeVisible();
    expect(await seriousViolations(page), `file actions menu ${theme}`).toEqual([]);
    await shot(page, `file-menu-390-${theme}.png`);
    await page.keyboard.press('Escape');
  });
}

test('signed out: every page, both themes, no serious axe violation; screenshots at 1,280 and 390 px', async ({ browser, stack }) => {
  // As the signed-in walk: axe on every page in two themes and sizes took 45 s of the default 60 with the
  // private-stack lane running beside it on a loaded 2-core machine (18 s alone).
  test.setTimeout(180_000);
  const context = await browser.newContext({ baseURL: stack.url });
  const page = await context.newPage();
  for (const theme of ['light', 'dark'] as const) {
    for (const path of SIGNED_OUT) {
      await page.setViewportSize({ width: 1280, height: 900 });
      await visit(page, path, theme);
      expect(await seriousViolations(page), `${path} ${theme}`).toEqual([]);
      await shot(page, `signed-out-${slug(path)}-1280-${theme}.png`, true);
      // At 390 px only for the screenshot (the signed-in walk runs axe at both widths).
      if (!takeShots) continue;
      await page.setViewportSize({ width: 390, height: 844 });
      await visit(page, path, theme);
      await shot(page, `signed-out-${slug(path)}-390-${theme}.png`, true);
    }
  }
  await context.close();
});

test('keyboard: the account menu opens, moves and signs out by keys, with a visible focus ring', async ({ admin }) => {
  const { page } = admin;
  await visit(page, '/', 'light');
  // Tab from the top: skip link first, then the header's controls, each with an outline when focused.
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
  const outline = () => page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
  expect(await outline()).toBe('solid');
  await page.getByTestId('account-menu').focus();
  expect(await outline()).toBe('solid');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('menu')).toBeVisible();
  // Items are reached with the arrow keys; End goes to the last one, Sign out.
  await page.keyboard.press('End');
  await expect(page.getByRole('menuitem', { name: 'Sign out' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/login$/);
});

test('keyboard: a file is removed with the keys alone, through the confirmation dialog', async ({ admin }) => {
  test.setTimeout(90_000);
  const { page } = admin;
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  await protectThroughUi(page, makeFile('keyboard-remove.bin', 1000), 'keyboard-remove.bin');
  await page.getByRole('button', { name: 'Remove keyboard-remove.bin' }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toBeVisible();
  // Focus is trapped in the dialog; Tab reaches the confirming button.
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(dialog.getByRole('button', { name: 'Remove' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('file-row').filter({ hasText: 'keyboard-remove.bin' })).toHaveCount(0);
});
