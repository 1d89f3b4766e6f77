/**
 * A route's code that fails to load while the page hydrates (a network change cut it) reloads the page
 * instead of leaving SvelteKit's "500 Internal Error" (web/src/hooks.client.ts). Seen in CI under load: the
 * sign-in page of a fresh context showed "Internal Error" while the coordinator logged nothing, as Docker
 * networks came and went beside the suite.
 */
import { test, expect } from '../fixtures.js';

test('a page whose code fails to load once is loaded again, not left on an error page', async ({ admin, browser, stack }) => {
  expect(admin.page).toBeTruthy(); // set-up done: /login shows its form
  // Signed out, as in CI; no service worker: it would answer the app's files itself, out of the route's reach.
  const context = await browser.newContext({ baseURL: stack.url, serviceWorkers: 'block' });
  try {
    const fresh = await context.newPage();
    const cut: string[] = [];
    await context.route('**/_app/immutable/nodes/*.js', (route) => {
      if (cut.length > 0) return route.continue();
      cut.push(route.request().url());
      return route.abort('internetdisconnected');
    });
    await fresh.goto('/login');
    await expect(fresh.locator('html[data-hydrated="true"]')).toHaveCount(1, { timeout: 30_000 });
    expect(cut).toHaveLength(1);
    await expect(fresh.getByText('Internal Error')).toHaveCount(0);
    await expect(fresh.getByRole('heading', { name: 'Sign in' })).toBeVisible();
    // Hydrated for real: the form answers (a wrong password is refused in the page, not by a full post).
    await fresh.getByLabel('E-mail').fill('nobody@example.org');
    await fresh.getByLabel('Password').fill('not the password at all');
    await fresh.getByRole('button', { name: 'Sign in' }).click();
    await expect(fresh.getByRole('alert')).toBeVisible();
  } finally {
    await context.close();
  }
});
