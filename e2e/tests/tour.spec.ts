/**
 * Issue #17, the help tour (driver.js, web/src/lib/state/tour.ts): offered once to a new user, it
 * highlights the part of the page each step describes and scrolls it into view, can be skipped at any
 * step, and Help in the account menu starts it again from any page.
 */
import type { Browser, Page } from '@playwright/test';
import { test, expect, type Session } from '../fixtures.js';
import { ready } from '../helpers.js';

/** A new ordinary user, signed in through the API in a browser context of their own. */
async function newUser(admin: Session, browser: Browser, url: string, email: string, reducedMotion: 'reduce' | 'no-preference' = 'no-preference'): Promise<Page> {
  const created = await admin.post('/api/users', { email, displayName: email.split('@')[0], password: 'a long password 1' });
  expect([201, 409]).toContain(created.status());
  const context = await browser.newContext({ baseURL: url, viewport: { width: 1280, height: 720 }, reducedMotion });
  const page = await context.newPage();
  const res = await page.request.post('/api/login', { data: { email, password: 'a long password 1' }, headers: { Origin: url } });
  expect(res.status()).toBe(200);
  return page;
}

const popover = (page: Page) => page.getByRole('dialog').filter({ has: page.locator('.driver-popover-title') });

/** The tour is on `title`, and the element it names is the one highlighted and is on screen. */
async function onStep(page: Page, title: string, tour: string | null): Promise<void> {
  await expect(popover(page).locator('.driver-popover-title')).toHaveText(title);
  if (tour === null) return;
  const part = page.locator(`[data-tour="${tour}"]`);
  await expect(part).toHaveClass(/driver-active-element/);
  await expect(part).toBeInViewport();
  await expect(popover(page)).toBeInViewport();
}

test('a new user is offered the tour once; each step highlights and scrolls to its part; Skip ends it', async ({ admin, browser, stack }) => {
  const page = await newUser(admin, browser, stack.url, 'tour-new@kofn.test');
  await page.goto('/');
  await ready(page);
  const offer = page.getByTestId('tour-offer');
  await expect(offer).toBeVisible();
  await offer.getByRole('button', { name: 'Take the tour' }).click();
  await expect(offer).toHaveCount(0);

  await onStep(page, 'Welcome to kofn', null);
  await expect(popover(page).locator('.driver-popover-progress-text')).toHaveText(/^Step 1 of \d+$/);
  const next = popover(page).getByRole('button', { name: 'Next' });
  await next.click();
  await onStep(page, 'Protect files', 'protect');
  await next.click();
  await onStep(page, 'Threshold and servers', 'settings');
  await next.click();
  // No transfer yet: the step points at the drop zone, where transfers start.
  await onStep(page, 'Transfers', 'dropzone');
  await next.click();
  await onStep(page, 'Your files', 'files');
  await next.click();
  // Below the fold at 720 px: the tour scrolled to it.
  await onStep(page, 'Storage servers', 'servers');
  await next.click();
  await onStep(page, 'Used space', 'usage');
  await next.click();
  await onStep(page, 'Operation history', 'history');
  await popover(page).getByRole('button', { name: 'Back' }).click();
  await onStep(page, 'Used space', 'usage');

  await popover(page).getByRole('button', { name: 'Skip tour' }).click();
  await expect(popover(page)).toHaveCount(0);
  await expect(page.locator('.driver-overlay')).toHaveCount(0);
  await expect(page.locator('.driver-active-element')).toHaveCount(0);

  // Offered once: not again for this account, not even after a reload.
  await page.reload();
  await ready(page);
  await expect(page.getByRole('heading', { name: 'Your files' })).toBeVisible();
  await expect(page.getByTestId('tour-offer')).toHaveCount(0);
  await page.context().close();
});

test('"No thanks" is remembered; Help starts the tour from another page; Escape and the last step end it', async ({ admin, browser, stack }) => {
  // Reduced motion: the tour moves without its animation (and so the keys below are not swallowed by one).
  const page = await newUser(admin, browser, stack.url, 'tour-later@kofn.test', 'reduce');
  await page.goto('/');
  await ready(page);
  await page.getByTestId('tour-offer').getByRole('button', { name: 'No thanks' }).click();
  await expect(page.getByTestId('tour-offer')).toHaveCount(0);

  await page.goto('/docs');
  await ready(page);
  await page.getByTestId('account-menu').click();
  await page.getByRole('menuitem', { name: 'Help' }).click();
  await expect(page).toHaveURL(/\/$/);
  await onStep(page, 'Welcome to kofn', null);
  await page.keyboard.press('Escape');
  await expect(popover(page)).toHaveCount(0);

  // Through to the end by the keyboard: the last step highlights the account menu and says Done.
  await page.getByTestId('account-menu').click();
  await page.getByRole('menuitem', { name: 'Help' }).click();
  await onStep(page, 'Welcome to kofn', null);
  const total = Number((await popover(page).locator('.driver-popover-progress-text').innerText()).split(' of ')[1]);
  for (let i = 2; i <= total; i++) {
    // driver.js ignores a key until the step has settled (next frame): a key it took changes the text at
    // once, so one that changed nothing within a second was ignored and is pressed again.
    await expect(async () => {
      await page.keyboard.press('ArrowRight');
      await expect(popover(page).locator('.driver-popover-progress-text')).toHaveText(`Step ${i} of ${total}`, { timeout: 1000 });
    }).toPass({ timeout: 15_000 });
  }
  await expect(popover(page).locator('.driver-popover-title')).toHaveText('Your account');
  await expect(page.locator('[data-tour="account"]')).toHaveClass(/driver-active-element/);
  await expect(page.locator('[data-tour="account"]').getByTestId('account-menu')).toBeVisible();
  await popover(page).getByRole('button', { name: 'Done' }).click();
  await expect(popover(page)).toHaveCount(0);
  await page.reload();
  await ready(page);
  await expect(page.getByRole('heading', { name: 'Your files' })).toBeVisible();
  await expect(page.getByTestId('tour-offer')).toHaveCount(0);
  await page.context().close();
});
