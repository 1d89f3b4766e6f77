/**
 * The installable PWA: a valid manifest with 192 and 512 px icons, a service worker that controls the
 * page, the app shell offline, the share workers' own service worker, and streamed downloads through the
 * service worker.
 */
import { test, expect } from '../fixtures.js';
import { chooseSharing, makeFile, protectThroughUi } from '../helpers.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

test('the manifest is valid and its icons load', async ({ page }) => {
  await page.goto('/login');
  const href = await page.locator('link[rel=manifest]').getAttribute('href');
  expect(href).toBe('/manifest.webmanifest');
  const manifest = (await (await page.request.get(href!)).json()) as { name: string; start_url: string; display: string; icons: Array<{ src: string; sizes: string; type: string }> };
  expect(manifest).toMatchObject({ short_name: 'kofn', start_url: '/', display: 'standalone' });
  for (const size of ['192x192', '512x512']) {
    const icon = manifest.icons.find((i) => i.sizes === size && i.type === 'image/png');
    expect(icon, size).toEqual({ src: `/icons/icon-${size.split('x')[0]}.png`, sizes: size, type: 'image/png', purpose: 'any' });
    const res = await page.request.get(icon!.src);
    expect(res.status()).toBe(200);
    const png = await res.body();
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(Number(size.split('x')[0]));
  }
});

test('a service worker controls the page and serves the shell offline', async ({ page, context }) => {
  await page.goto('/login');
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.reload();
  expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
  await context.setOffline(true);
  await page.reload();
  await expect(page.getByText('You are offline.')).toBeVisible();
  await context.setOffline(false);
});

test('the share workers get a service worker of their own, scoped to their folder', async ({ admin }) => {
  const { page } = admin;
  await page.goto('/');
  // Registered on the dashboard so the first transfer does not wait for it (worker-scope.ts).
  const registration = () =>
    page.evaluate(async () => {
      const r = await navigator.serviceWorker.getRegistration('/_app/immutable/workers/');
      return r?.active ? { scope: new URL(r.scope).pathname, script: new URL(r.active.scriptURL).pathname } : null;
    });
  await expect.poll(registration, { timeout: 10_000 }).toEqual({ scope: '/_app/immutable/workers/', script: '/share-workers-sw.js' });
  // The page itself stays under the app's service worker.
  expect(await page.evaluate(async () => new URL((await navigator.serviceWorker.ready).active!.scriptURL).pathname)).toBe('/service-worker.js');
});

test('without the File System Access API, a file downloads as a stream through the service worker', async ({ admin }) => {
  const { page } = admin;
  await page.goto('/');
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.reload();
  await page.evaluate(() => localStorage.setItem('kofn.save', 'download'));
  await page.reload();
  await chooseSharing(page, 2, 3);
  const file = makeFile('via-sw.bin', 2 * 1024 * 1024 + 3);
  await protectThroughUi(page, file, 'via-sw.bin');
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Retrieve via-sw.bin', exact: true }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe('via-sw.bin');
  const path = await download.path();
  expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(file.sha256);
  await page.evaluate(() => localStorage.removeItem('kofn.save'));
});
