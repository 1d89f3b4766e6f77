/**
 * Issue #15: a file retrieved in Chromium while its renewal runs and switches completes byte-identical.
 * A private stack of two relays, relay-2 behind a loopback proxy (e2e/hostile-proxy.ts) that paces share
 * bodies, so the download outlasts the renewal; read tokens live 10 s (KOFN_TOKEN_TTL_SECONDS), so the
 * download renews its tokens after the switch. Before the fix those fresh tokens named the new epoch, every
 * relay served epoch-1 shares to a decoder reading epoch 0, and the retrieval failed (MIXED_EPOCH on every
 * relay). Now the download asks for the epoch it started with (web/src/lib/server/read-epoch.ts) and finishes
 * on it. Asserted on state, not timing: the coordinator's record of the switch (the file's epoch and
 * lastRenewal) falls between share GETs of this download, a GET after the switch carried a token minted
 * after it that still names epoch 0, and the file saved is byte-identical. A retrieval started afterwards
 * reads epoch 1. The drop of epoch 0 comes 16 minutes after the switch (renewal grace), beyond this test:
 * what a download gets then (EPOCH_GONE) is tested in read-epoch.test.ts and capabilities.test.ts.
 */
import { test, expect } from '../fixtures.js';
import type { HostileProxy } from '../hostile-proxy.js';
import { startProxiedStack, type ProxiedStack } from '../proxied-stack.js';
import { chooseSharing, makeFile, openAsNewAdmin, opfsSha256, protectThroughUi, ready } from '../helpers.js';
import { listedFile, pacedStackEnv, retrievalRow, tokenClaims } from '../paced-retrieval.js';
import type { Page } from '@playwright/test';

test.describe.configure({ mode: 'serial', timeout: 600_000 });

const TTL_S = 10;
/** Slow enough that the renewal (deal, prepare, check of 2 x 24 MiB at load 10-40) switches mid-download. */
const SLOW = 96 * 1024;
const FILE = { name: 'renew-midway.bin', file: makeFile('renew-midway.bin', 24 * 1024 * 1024 + 11) };

let proxied: ProxiedStack;
let proxy: HostileProxy;
let page: Page;

const claims = tokenClaims;
const listed = () => listedFile(page, FILE.name);
const transfer = () => retrievalRow(page, FILE.name);

test.beforeAll(async ({ browser }) => {
  test.setTimeout(240_000);
  proxied = await startProxiedStack({ relays: 2, tier: 'Pro', env: pacedStackEnv(TTL_S) });
  proxy = proxied.proxy;
  page = await openAsNewAdmin(browser, proxied.stack.url);
  // (2,2): the download reads both relays, so every chunk needs a share from the paced relay-2.
  await chooseSharing(page, 2, 2);
  await protectThroughUi(page, FILE.file, FILE.name);
});

test.afterAll(async () => {
  await page?.context().close();
  await proxied?.stop();
});

test('a retrieval running while its file is renewed and switched finishes on its epoch, byte-identical', async () => {
  const before = await listed();
  expect(before.epoch).toBe(0);
  await page.reload();
  await ready(page);
  proxy.rate = SLOW;
  proxy.tokens = [];
  const gets = () => proxy.tokens.filter((t) => t.method === 'GET');

  await page.getByRole('button', { name: `Retrieve ${FILE.name}`, exact: true }).click();
  // The download is under way: relay-2 was asked for a share chunk. Not "served one": at this pace the first
  // answers end a minute in, with six requests nearly done, and a CI run's renewal, started only then and slowed
  // by the load, switched when every remaining request was already under way (none carried a token minted after
  // the switch).
  await expect.poll(() => gets().length, { timeout: 60_000 }).toBeGreaterThan(0);

  const session = (await (await page.request.get('/api/session')).json()) as { csrfToken: string };
  const renew = await page.request.post(`/api/files/${before.id}/renew`, { headers: { Origin: proxied.stack.url, 'X-CSRF-Token': session.csrfToken } });
  expect(renew.status()).toBe(200);

  // The job runner renews and switches the file to epoch 1 while the download is still running.
  await expect.poll(async () => (await listed()).epoch, { timeout: 180_000, intervals: [1000] }).toBe(1);
  const switchedAt = Date.parse((await listed()).lastRenewal!);
  await expect(transfer()).toHaveAttribute('data-status', 'running');

  // Explicit state, not a wait: the download renewed its tokens after the switch and relay-2 served a GET
  // with one of them. That token still names epoch 0 (no `ep` claim), the epoch the download started on.
  // Asked with such a token is enough here (a paced share takes minutes to arrive on a loaded machine); those
  // answered must have been served (200) once the download is done, below.
  const minted = () => gets().filter((t) => claims(t.token).iat * 1000 >= switchedAt);
  const afterSwitch = () => minted().filter((t) => t.status !== undefined);
  await expect.poll(() => minted().length, { timeout: 150_000 }).toBeGreaterThan(0);

  // The rest at full speed.
  proxy.rate = undefined;
  await expect(transfer()).toHaveAttribute('data-status', /done|error/, { timeout: 180_000 });
  await expect(transfer(), await transfer().innerText()).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, FILE.name)).toBe(FILE.file.sha256);
  // Tokens minted after the switch still named epoch 0 (no `ep` claim) and relay-2 served them.
  expect(afterSwitch().length).toBeGreaterThan(0);
  expect(afterSwitch().map((t) => ({ ep: claims(t.token).ep, status: t.status }))).toEqual(afterSwitch().map(() => ({ ep: undefined, status: 200 })));

  // The switch fell inside this download: share GETs before it and after it, all on epoch 0, none refused
  // for a wrong epoch (a relay answers a token naming a dropped or missing epoch with 404).
  const seen = gets();
  expect(seen[0]!.at).toBeLessThan(switchedAt);
  expect(seen.at(-1)!.at).toBeGreaterThan(switchedAt);
  expect(seen.every((t) => claims(t.token).ep === undefined)).toBe(true);
  expect(seen.filter((t) => t.status === 404)).toEqual([]);
  console.log(
    `${seen.length} share GETs on relay-2 over ${Math.round((seen.at(-1)!.at - seen[0]!.at) / 1000)} s, switch to epoch 1 ` +
      `${Math.round((switchedAt - seen[0]!.at) / 1000)} s in; ${new Set(seen.map((t) => t.token)).size} distinct tokens, ${afterSwitch().length} GETs with tokens minted after the switch`
  );
});

test('a retrieval started after the switch reads the new epoch, byte-identical', async () => {
  expect((await listed()).epoch).toBe(1);
  await page.evaluate(async (n) => (await navigator.storage.getDirectory()).removeEntry(n).catch(() => undefined), FILE.name);
  await page.reload();
  await ready(page);
  proxy.rate = undefined;
  proxy.tokens = [];
  await page.getByRole('button', { name: `Retrieve ${FILE.name}`, exact: true }).click();
  await expect(transfer()).toHaveAttribute('data-status', /done|error/, { timeout: 120_000 });
  await expect(transfer(), await transfer().innerText()).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, FILE.name)).toBe(FILE.file.sha256);
  const seen = proxy.tokens.filter((t) => t.method === 'GET');
  expect(seen.length).toBeGreaterThan(0);
  expect(seen.every((t) => claims(t.token).ep === 1)).toBe(true);
});
