/**
 * Administration usage (issue #17): per storage server (used against free space as each relay reports it
 * in its signed heartbeat, "not reported" for a store with no free-space figure) and per person, readable
 * on a 390 px phone; and the storage servers listed as cards there.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { test, expect } from '../fixtures.js';
import { chooseSharing, makeFile, protectThroughUi, ready } from '../helpers.js';

/** The relay signature of `@kofn/shared` (announcement.ts), written out so the test does not trust the code it tests. */
function relaySignature(key: KeyObject, path: string, body: string): string {
  return sign(null, Buffer.from(`kofn-relay-signature-v1\n${path}\n${body}`), key).toString('base64url');
}

async function overflowX(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

test('the admin page breaks usage down per storage server and per person, and reads on a 390 px phone', async ({ admin, browser, stack }) => {
  test.setTimeout(90_000);
  // A person of their own with one file of 3,000 bytes, protected through the app.
  const email = 'usage-person@kofn.test';
  expect([201, 409]).toContain((await admin.post('/api/users', { email, displayName: 'Uma Usage', password: 'a long password 1' })).status());
  const context = await browser.newContext({ baseURL: stack.url });
  const user = await context.newPage();
  expect((await user.request.post('/api/login', { data: { email, password: 'a long password 1' }, headers: { Origin: stack.url } })).status()).toBe(200);
  await user.goto('/');
  await chooseSharing(user, 2, 3);
  await protectThroughUi(user, makeFile('usage-3000.bin', 3000), 'usage-3000.bin');
  await context.close();

  const { page } = admin;
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/admin');
  await ready(page);
  const usage = page.getByRole('region', { name: 'Usage' });
  const person = usage.getByTestId('usage-user').filter({ hasText: email });
  await expect(person.getByTestId('user-space')).toHaveText(/^2\.9 KiB in 1 file · [\d.<]+% of all$/);
  await expect(person).toContainText('Uma Usage');
  // The bar is the person's share of all protected bytes: drawn, and no wider than the whole.
  const share = Number(await person.locator('rect.fill').getAttribute('width'));
  expect(share).toBeGreaterThan(0);
  expect(share).toBeLessThanOrEqual(100);
  // Every relay of the stack (disk relays) reports its file system's free space.
  const servers = usage.getByTestId('usage-relay');
  await expect(servers).toHaveCount(stack.relays.length);
  for (const row of await servers.all()) {
    await expect(row.getByTestId('relay-space')).toHaveText(/^[\d.]+ (B|KiB|MiB|GiB) used · [\d.]+ (KiB|MiB|GiB|TiB) free \([\d.<]+% used\)$/);
    await expect(row.getByTestId('relay-placed')).toHaveText(/^Shares of \d+ files? \([\d.]+ (B|KiB|MiB|GiB) of data\)/);
  }
  // The file's three shares went to the first three servers: each of them holds a share of at least one file.
  const placed = await usage.getByTestId('relay-placed').allInnerTexts();
  expect(placed.filter((t) => !t.startsWith('Shares of 0 files')).length).toBeGreaterThanOrEqual(3);
  // Phone: nothing wider than the screen; the bars and figures stay inside it.
  expect(await overflowX(page)).toBe(0);
  await person.scrollIntoViewIfNeeded();
  await expect(person.getByTestId('user-space')).toBeInViewport({ ratio: 1 });
  // The storage servers are cards with name and status first, on screen.
  const card = page.getByTestId('relay-list').getByTestId('relay-row').first();
  await card.scrollIntoViewIfNeeded();
  await expect(card.getByTestId('relay-status')).toBeInViewport({ ratio: 1 });
  await expect(card.getByRole('button', { name: 'New key token' })).toBeInViewport({ ratio: 1 });
});

test('a relay whose store reports no free space (S3) reads "not reported", with no made-up proportion', async ({ admin, request }) => {
  const storage = (await (await admin.get('/api/storage')).json()) as { relays: Array<{ id: string; name: string; host: string; location: string }> };
  const three = storage.relays.find((r) => r.name === 'relay-3')!;
  const key = createPrivateKey(readFileSync(join(process.env.KOFN_E2E_DATA_DIR!, 'relays', 'relay-3', 'relay-key.pem'), 'utf8'));
  // Relay 3's own signed heartbeat, as an S3 relay sends it. Stamped 12 s ahead, so the real relay's
  // next beats (every 5 s, stamped earlier) are refused until the page has been read; far less than the
  // 30 s after which this shared stack would call it offline.
  const body = JSON.stringify({
    relayId: three.id,
    name: 'relay-3',
    location: three.location,
    url: three.host,
    version: '0.1.0',
    storage: 'S3',
    freeBytes: null,
    usedBytes: 4096,
    at: Date.now() + 12_000
  });
  const res = await request.post('/api/relays/heartbeat', {
    data: body,
    headers: { 'content-type': 'application/json', 'X-Kofn-Relay-Signature': relaySignature(key, '/api/relays/heartbeat', body) }
  });
  expect(res.status()).toBe(200);
  // A free-space figure that is not a byte count is refused, signed or not.
  const bad = body.replace('"freeBytes":null', '"freeBytes":"lots"').replace(/"at":\d+/, `"at":${Date.now() + 13_000}`);
  const refused = await request.post('/api/relays/heartbeat', {
    data: bad,
    headers: { 'content-type': 'application/json', 'X-Kofn-Relay-Signature': relaySignature(key, '/api/relays/heartbeat', bad) }
  });
  expect(refused.status()).toBe(400);

  const { page } = admin;
  await page.goto('/admin');
  const row = page.getByRole('region', { name: 'Usage' }).getByTestId('usage-relay').filter({ hasText: 'relay-3' });
  await expect(row.getByTestId('relay-space')).toHaveText('4.0 KiB used · free space not reported');
  await expect(row.locator('.bar.unknown')).toHaveCount(1);
  await expect(row.locator('.fill')).toHaveCount(0);
  await expect(page.locator('[data-testid="relay-row"][data-relay-name="relay-3"]')).toContainText('4.0 KiB used, free space not reported');
  // The real relay's beats take over again once they are newer: it reports its disk's free space.
  await expect
    .poll(
      async () => {
        await page.reload();
        return row.getByTestId('relay-space').innerText();
      },
      { timeout: 30_000, intervals: [2_000] }
    )
    .toMatch(/ free \(/);
});

test('"Renew all files now" asks in the page, and Cancel queues nothing', async ({ admin }) => {
  const { page } = admin;
  await page.setViewportSize({ width: 1280, height: 900 });
  // No browser confirm(): a native dialog here would fail the test (issue #17).
  const native: string[] = [];
  page.on('dialog', (d) => {
    native.push(d.message());
    void d.dismiss();
  });
  await page.goto('/admin');
  await ready(page);
  await page.getByRole('button', { name: 'Renew all files now' }).click();
  const dialog = page.getByTestId('renew-all-dialog');
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('Each renewal moves every byte of a file between storage servers.');
  // The safe choice has focus first.
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByText(/queued for renewal/)).toHaveCount(0);
  expect(native).toEqual([]);
});
