/**
 * Two kofn deployments on one host for the federation specs (federation.spec, federation-files.spec): X with
 * three relays that answer CORS for both sites, and H with its own relays. One place for the port choice and the
 * host names, which both specs had spelled out.
 */
import type { APIRequestContext, Locator, Page } from '@playwright/test';
import { ADMIN, expect } from './fixtures.js';
import { freePortBlock, startStack, type RunningStack, type StackOptions } from './stack.js';

/** Starts X and H side by side; H's own options (relays, tier) come from the caller. */
export async function startTwoDeployments(hOptions: Pick<StackOptions, 'relays' | 'tier'>): Promise<{ x: RunningStack; h: RunningStack }> {
  // Fixed ports, so X's relays can be told H's origin before either starts (they answer CORS for it).
  const hPorts = hOptions.relays + 1;
  const xBase = await freePortBlock(4);
  let hBase = await freePortBlock(hPorts);
  while (hBase <= xBase + 4 && hBase + hPorts >= xBase) hBase = await freePortBlock(hPorts);
  const hOrigin = `http://127.0.0.1:${hBase}`;
  const relayEnv = Object.fromEntries([1, 2, 3].map((i) => [`relay-${i}`, { KOFN_WEB_ORIGINS: `http://localhost:${xBase},${hOrigin}` }]));
  const [x, h] = await Promise.all([
    // X on `localhost`, H on 127.0.0.1: cookies ignore ports (RFC 6265 §8.5), so two sites on one host name
    // would share one session cookie; real deployments have host names of their own.
    startStack({ relays: 3, port: xBase, publicHost: 'localhost', relayEnv, env: { KOFN_DEPLOYMENT_NAME: 'Deployment X' } }),
    startStack({ ...hOptions, port: hBase, env: { KOFN_DEPLOYMENT_NAME: 'Deployment H' } })
  ]);
  return { x, h };
}

/** Sets a fresh deployment up with the test administrator; returns the session's CSRF token. */
export async function setUp(request: APIRequestContext, url: string): Promise<string> {
  const res = await request.post(`${url}/api/setup`, { data: ADMIN, headers: { Origin: url } });
  expect(res.status()).toBe(201);
  return ((await res.json()) as { csrfToken: string }).csrfToken;
}

/** The user at X whom the federation specs link H's browser to. */
export const UMA = { email: 'uma@x.test', displayName: 'Uma at X', password: 'uma remote password 1' };

/**
 * From H's Account page, the user starts linking this browser to their account at X: X's own window opens on
 * X's link page and they sign in there. Returns H's panel and X's window, signed in and showing the approval
 * (the caller approves, after checking what it shows).
 */
export async function openAccountLink(page: Page, xUrl: string): Promise<{ panel: Locator; popup: Page }> {
  await page.goto('/account');
  const panel = page.getByRole('region', { name: 'Other deployments' });
  await expect(panel.getByTestId('federation-standing')).toHaveText('not linked', { timeout: 30_000 });
  const popupOpened = page.waitForEvent('popup');
  await panel.getByRole('button', { name: 'Link my account there' }).click();
  const popup = await popupOpened;
  await expect(popup).toHaveURL(new RegExp(`^${xUrl}/federation/link\\?`));
  await popup.getByRole('link', { name: 'Sign in here' }).click();
  await popup.getByLabel('E-mail').fill(UMA.email);
  await popup.getByLabel('Password').fill(UMA.password);
  await popup.getByRole('button', { name: 'Sign in', exact: true }).click();
  return { panel, popup };
}
