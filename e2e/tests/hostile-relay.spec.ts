/**
 * A hostile relay, for real (issue #13 items 3 and 4): relay-2 of a stack of this file's own sits behind a
 * loopback proxy (e2e/hostile-proxy.ts) that its public URL points at, so the browser talks to the real
 * relay through it. The proxy answers pings at once (the relay looks fastest and is picked) and then, on
 * share chunks, stalls before headers, stalls after 100 body bytes, or floods an endless body. Relay
 * timeouts are shortened through the coordinator's KOFN_RELAY_TIMEOUT_* (the logic is the defaults').
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test, expect } from '../fixtures.js';
import type { RunningStack } from '../stack.js';
import { chromiumRss, type HostileProxy } from '../hostile-proxy.js';
import { preferProxiedRelay, startProxiedStack, type ProxiedStack } from '../proxied-stack.js';
import { chooseSharing, makeFile, opfsSha256, protectThroughUi, ready, retrieveThroughUi, openAsNewAdmin } from '../helpers.js';
import type { Page } from '@playwright/test';

test.describe.configure({ mode: 'serial', timeout: 180_000 });

const TIMEOUT_S = 3;
let proxied: ProxiedStack;
let stack: RunningStack;
let proxy: HostileProxy;
let page: Page;
const FILE = { name: 'hostile.bin', file: makeFile('hostile.bin', 3 * 1024 * 1024 + 11) };

const transferOf = (name: string) =>
  page
    .getByTestId('transfer')
    .filter({ hasText: `Retrieving ${name}` })
    .first();

/** The honest relays' pings fail in this page, so the browser ranks the hostile one first among its k. */
async function preferHostile(): Promise<void> {
  await preferProxiedRelay(proxied, page);
}

/** Retrieves the file listed as `name` through the page (saving to OPFS), none of it saved before. */
async function retrieveAgainAs(name: string): Promise<void> {
  await page.reload();
  await ready(page);
  await page.evaluate(
    async (names) => {
      const root = await navigator.storage.getDirectory();
      for (const n of names) await root.removeEntry(n).catch(() => undefined);
    },
    [FILE.name, LIE]
  );
  await retrieveThroughUi(page, name);
}

/** Retrieves FILE through the page; answers how long it took. */
async function retrieveAgain(): Promise<number> {
  await page.reload();
  await ready(page);
  await page.evaluate(async (n) => (await navigator.storage.getDirectory()).removeEntry(n).catch(() => undefined), FILE.name);
  const t = Date.now();
  await retrieveThroughUi(page, FILE.name);
  return Date.now() - t;
}

test.beforeAll(async ({ browser }) => {
  // Starting a stack of its own (a coordinator and relays) can take over a minute on a loaded 2-core machine.
  test.setTimeout(180_000);
  proxied = await startProxiedStack({
    relays: 3,
    tier: 'Pro',
    env: { KOFN_RELAY_TIMEOUT_HEADERS: String(TIMEOUT_S), KOFN_RELAY_TIMEOUT_IDLE: String(TIMEOUT_S), KOFN_RELAY_TIMEOUT_PUT: String(TIMEOUT_S) }
  });
  ({ stack, proxy } = proxied);
  expect(stack.relays).toContain(proxy.url);
  page = await openAsNewAdmin(browser, stack.url);
  await chooseSharing(page, 2, 3);
  await protectThroughUi(page, FILE.file, FILE.name);
});

test.afterAll(async () => {
  await page?.context().close();
  await proxied?.stop();
});

test('a relay that never answers a share GET is failed over within the timeout; the file is byte-identical', async () => {
  await preferHostile();
  proxy.mode = 'stall-headers';
  proxy.misbehaved = 0;
  const took = await retrieveAgain();
  await expect(transferOf(FILE.name)).toHaveAttribute('data-status', 'done');
  expect(proxy.misbehaved).toBeGreaterThan(0); // it was picked, and it stalled
  expect(took).toBeLessThan(TIMEOUT_S * 1000 * 4);
  expect(await opfsSha256(page, FILE.name)).toBe(FILE.file.sha256);
  const row = page.getByTestId('history-row').filter({ hasText: 'retrieve' }).filter({ hasText: FILE.name }).first();
  await expect(row).toContainText('no answer from: relay-2');
});

test('a relay that stalls after 100 bytes of a share is failed over; the file is byte-identical', async () => {
  await preferHostile();
  proxy.mode = 'stall-body';
  proxy.misbehaved = 0;
  const took = await retrieveAgain();
  await expect(transferOf(FILE.name)).toHaveAttribute('data-status', 'done');
  expect(proxy.misbehaved).toBeGreaterThan(0);
  expect(took).toBeLessThan(TIMEOUT_S * 1000 * 4);
  expect(await opfsSha256(page, FILE.name)).toBe(FILE.file.sha256);
});

test('a relay flooding an endless share is cut at the share size and failed over, without ballooning the browser', async () => {
  await preferHostile();
  proxy.mode = 'flood';
  proxy.misbehaved = 0;
  proxy.flooded = 0;
  const before = chromiumRss();
  expect(before).toBeGreaterThan(0); // the measure sees this test's Chromium
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, chromiumRss())), 100);
  try {
    await retrieveAgain();
  } finally {
    clearInterval(sampler);
  }
  // Measured (issue #13 item 4): an unbounded read took Chromium from 1 GB to 3 GB. A bounded one stays
  // within what any retrieval of this 3 MiB file costs (workers, buffers): well under 300 MB more.
  console.log(`chromium RSS ${Math.round(before / 2 ** 20)} MiB before, ${Math.round(peak / 2 ** 20)} MiB peak; flood bytes taken ${proxy.flooded}`);
  expect(peak - before).toBeLessThan(300 * 1024 * 1024);
  await expect(transferOf(FILE.name)).toHaveAttribute('data-status', 'done');
  expect(proxy.misbehaved).toBeGreaterThan(0);
  expect(await opfsSha256(page, FILE.name)).toBe(FILE.file.sha256);
  // Let the flood run on for a moment: a browser still reading would take megabytes every millisecond.
  await page.waitForTimeout(1000);
  const settled = proxy.flooded;
  await page.waitForTimeout(1000);
  expect(proxy.flooded).toBe(settled);
  // What Chromium took before hanging up: the share bound plus its network buffers, not gigabytes.
  expect(proxy.flooded).toBeLessThan(64 * 1024 * 1024);
});

test('a share token that expires during a retrieval is renewed from the coordinator, and the retrieval completes', async () => {
  await preferHostile();
  proxy.mode = 'expire-once';
  proxy.tokens = [];
  await retrieveAgain();
  await expect(transferOf(FILE.name)).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, FILE.name)).toBe(FILE.file.sha256);
  expect(proxy.mode).toBe('forward'); // the 401 was sent
  // The refused request was sent again, to the same chunk, with a token the coordinator minted afresh.
  const [refused, again] = proxy.tokens;
  expect(again!.path).toBe(refused!.path);
  expect(again!.token).not.toBe(refused!.token);
});

/**
 * Item 12: the coordinator (here: its answers rewritten on the way, the one fault this file cannot make
 * for real) names the file otherwise than the file's authenticated metadata record.
 */
const LIE = 'evil.exe';
async function coordinatorSays(what: 'listing' | 'manifest'): Promise<void> {
  await page.unrouteAll({ behavior: 'ignoreErrors' });
  // The dashboard lists a folder's page (`/api/folders`, issue #18); `/api/files` is the whole list.
  const listing = (url: URL): boolean => url.pathname === '/api/files' || url.pathname === '/api/folders';
  const pattern = what === 'listing' ? listing : `${stack.url}/api/files/*/manifest`;
  await page.route(pattern, async (route) => {
    if (route.request().method() !== 'GET') return route.continue();
    const res = await route.fetch();
    const body = (await res.json()) as { name?: string; files?: Array<{ name: string }> };
    if (body.name === FILE.name) body.name = LIE;
    for (const f of body.files ?? []) if (f.name === FILE.name) f.name = LIE;
    await route.fulfill({ response: res, json: body });
  });
}

test('a download is saved under the name of the authenticated record, not the listing', async () => {
  proxy.mode = 'forward';
  await coordinatorSays('listing');
  await page.evaluate(() => localStorage.setItem('kofn.save', 'download'));
  await page.reload();
  await ready(page);
  await page.evaluate(() => navigator.serviceWorker.ready);
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: `Retrieve ${LIE}`, exact: true }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe(FILE.name);
  expect(
    createHash('sha256')
      .update(readFileSync(await download.path()))
      .digest('hex')
  ).toBe(FILE.file.sha256);
  await page.evaluate(() => localStorage.removeItem('kofn.save'));
});

test('a save picker opened on a lying listing name is undone, saving nothing', async () => {
  await coordinatorSays('listing');
  await retrieveAgainAs(LIE);
  const transfer = page
    .getByTestId('transfer')
    .filter({ hasText: `Retrieving ${LIE}` })
    .first();
  await expect(transfer).toHaveAttribute('data-status', 'error');
  await expect(transfer).toContainText('differently from its authenticated record');
  expect(await opfsSha256(page, LIE)).toBeNull();
});

test('a manifest naming the file otherwise than its authenticated record is refused', async () => {
  await coordinatorSays('manifest');
  await retrieveAgainAs(FILE.name);
  await expect(transferOf(FILE.name)).toHaveAttribute('data-status', 'error');
  await expect(transferOf(FILE.name)).toContainText('differently from its authenticated record');
  expect(await opfsSha256(page, FILE.name)).toBeNull();
  expect(await opfsSha256(page, LIE)).toBeNull();
  await page.unrouteAll({ behavior: 'ignoreErrors' });
});

test('protecting with a relay that never answers a PUT moves to a spare relay and completes', async () => {
  await page.unrouteAll({ behavior: 'ignoreErrors' });
  proxy.mode = 'stall-headers';
  proxy.methods = new Set(['PUT']);
  proxy.misbehaved = 0;
  const spared = { name: 'spared.bin', file: makeFile('spared.bin', 2 * 1024 * 1024 + 5) };
  await page.reload();
  await ready(page);
  // relay-1 and the hostile relay-2 hold the file; relay-3 is the spare.
  for (const name of ['relay-1', 'relay-2', 'relay-3']) {
    await page
      .locator('label.relay-choice', { hasText: name })
      .locator('input')
      .setChecked(name !== 'relay-3');
  }
  await page.getByTestId('threshold').fill('2');
  await protectThroughUi(page, spared.file, spared.name);
  expect(proxy.misbehaved).toBeGreaterThan(0);
  proxy.mode = 'forward';
  // Stored on relay-1 and relay-3 now, and whole.
  const { files } = (await (await page.request.get('/api/files')).json()) as { files: Array<{ name: string; relays: Array<{ name: string }> }> };
  expect(
    files
      .find((f) => f.name === spared.name)!
      .relays.map((r) => r.name)
      .sort()
  ).toEqual(['relay-1', 'relay-3']);
  await page.reload();
  await retrieveThroughUi(page, spared.name);
  await expect(transferOf(spared.name)).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, spared.name)).toBe(spared.file.sha256);
});

test('protecting with a relay that never answers a PUT, and no spare, fails within the timeout naming the relay', async () => {
  await page.unrouteAll({ behavior: 'ignoreErrors' });
  proxy.mode = 'stall-headers';
  proxy.methods = new Set(['PUT']);
  const other = { name: 'hostile-put.bin', file: makeFile('hostile-put.bin', 2 * 1024 * 1024 + 3) };
  await page.reload();
  await chooseSharing(page, 2, 3);
  const t = Date.now();
  await page.getByTestId('file-input').setInputFiles(other.file.path);
  const transfer = page.getByTestId('transfer').filter({ hasText: other.name }).first();
  await expect(transfer).toHaveAttribute('data-status', 'error', { timeout: 60_000 });
  expect(Date.now() - t).toBeLessThan(TIMEOUT_S * 1000 * 5);
  await expect(transfer).toContainText(`Storage server relay-2 did not answer within ${TIMEOUT_S} s.`);
  proxy.mode = 'forward';
});
