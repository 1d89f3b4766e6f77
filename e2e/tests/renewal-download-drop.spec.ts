/**
 * Issue #15 in Chromium: a retrieval running while its file is renewed, switched AND its old epoch dropped on
 * the relays finishes byte-identical, read on at the new epoch from the chunk that met the dropped one
 * (web/src/lib/engine/retrieve.ts with shared/src/protocol/epoch-follow.ts). Before, it ended with
 * EPOCH_GONE. As renewal-download.spec.ts (which covers the switch while epoch 0 is still kept): a private
 * stack of two relays, relay-2 behind a loopback proxy pacing share bodies, (2,2), read tokens of 10 s; and
 * this build made for tests drops the old epoch 20 s after the switch (KOFN_TEST_RENEWAL_GRACE_SECONDS;
 * 16 minutes in the product). Asserted on state: the switch and the drop (epoch 0's chunk folder gone from
 * both relays) happen while the transfer runs; relay-2 then serves GETs with epoch-1 tokens; the file saved
 * is byte-identical. The second test does the same for a share link opened in a fresh browser (no account):
 * its download, running when the file is renewed again and epoch 1 dropped, reads on at epoch 2.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { epochStorageId } from '@kofn/shared/recover';
import { test, expect } from '../fixtures.js';
import { startProxiedStack, type ProxiedStack } from '../proxied-stack.js';
import { chooseSharing, linkThroughUi, makeFile, openAsNewAdmin, opfsSha256, protectThroughUi, ready, saveToOpfs } from '../helpers.js';
import type { Page } from '@playwright/test';
import { epochOf, listedFile, pacedStackEnv, retrievalRow, tokenClaims } from '../paced-retrieval.js';

test.describe.configure({ mode: 'serial', timeout: 240_000 });

const TTL_S = 10;
const GRACE_S = 20;
/** Slow enough that the paced download outlasts the renewal, the grace and the drop; lifted once the drop is seen. */
const SLOW = 32 * 1024;
const FILE = { name: 'renew-dropped.bin', file: makeFile('renew-dropped.bin', 12 * 1024 * 1024 + 11) };

let proxied: ProxiedStack;
let page: Page;

const epOf = (token: string) => tokenClaims(token).ep;
const listed = () => listedFile(page, FILE.name);
const transfer = () => retrievalRow(page, FILE.name);

test.beforeAll(async ({ browser }) => {
  test.setTimeout(240_000);
  proxied = await startProxiedStack({ relays: 2, tier: 'Pro', env: pacedStackEnv(TTL_S, GRACE_S) });
  page = await openAsNewAdmin(browser, proxied.stack.url);
  await chooseSharing(page, 2, 2);
  await protectThroughUi(page, FILE.file, FILE.name);
});

test.afterAll(async () => {
  await page?.context().close();
  await proxied?.stop();
});

test('a retrieval whose epoch is dropped midway reads on at the new epoch, byte-identical', async () => {
  const { stack, proxy } = proxied;
  const before = await listed();
  expect(before.epoch).toBe(0);
  const epoch0 = stack.relayProcs.map((r) => join(r.dataDir, 'chunks', before.id.slice(0, 2), before.id));
  await page.reload();
  await ready(page);
  proxy.rate = SLOW;
  proxy.tokens = [];
  const gets = () => proxy.tokens.filter((t) => t.method === 'GET');
  const t0 = Date.now();

  await page.getByRole('button', { name: `Retrieve ${FILE.name}`, exact: true }).click();
  await expect.poll(() => gets().filter((t) => t.status === 200).length, { timeout: 60_000 }).toBeGreaterThan(0);

  const session = (await (await page.request.get('/api/session')).json()) as { csrfToken: string };
  const renew = await page.request.post(`/api/files/${before.id}/renew`, { headers: { Origin: stack.url, 'X-CSRF-Token': session.csrfToken } });
  expect(renew.status()).toBe(200);
  await expect.poll(async () => (await listed()).epoch, { timeout: 120_000, intervals: [500] }).toBe(1);
  const switched = Date.now();
  await expect(transfer()).toHaveAttribute('data-status', 'running');
  await expect.poll(() => epoch0.every((dir) => !existsSync(dir) || readdirSync(dir).length === 0), { timeout: 90_000, intervals: [500] }).toBe(true);
  const dropped = Date.now();
  await expect(transfer()).toHaveAttribute('data-status', 'running');

  proxy.rate = undefined;
  await expect(transfer()).toHaveAttribute('data-status', /done|error/, { timeout: 120_000 });
  await expect(transfer(), await transfer().innerText()).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, FILE.name)).toBe(FILE.file.sha256);

  // relay-2 served epoch 0 first and epoch 1 last, nothing else; anything refused was an epoch-0 request that
  // met the drop (404) or an expired epoch-0 token (401), read again at epoch 1.
  const seen = gets();
  const eps = seen.map((t) => epOf(t.token));
  expect(eps[0]).toBeUndefined();
  expect(eps.at(-1)).toBe(1);
  expect(new Set(eps)).toEqual(new Set([undefined, 1]));
  expect(seen.filter((t) => t.status === 200 && epOf(t.token) === 1).length).toBeGreaterThan(0);
  const refused = seen.filter((t) => t.status !== undefined && t.status !== 200);
  expect(
    refused.every((t) => (t.status === 404 || t.status === 401) && epOf(t.token) === undefined),
    `refused: ${JSON.stringify(refused.map((t) => ({ status: t.status, ep: epOf(t.token), path: t.path, at: t.at - t0 })))}`
  ).toBe(true);
  console.log(
    `${seen.length} share GETs on relay-2 (${eps.filter((e) => e === 1).length} at epoch 1); switch ${Math.round((switched - t0) / 1000)} s in, ` +
      `drop seen ${Math.round((dropped - t0) / 1000)} s in, done ${Math.round((Date.now() - t0) / 1000)} s in`
  );
});

test('a share-link download whose epoch is dropped midway reads on at the new epoch, byte-identical', async ({ browser }) => {
  const { stack, proxy } = proxied;
  const before = await listed();
  const from = before.epoch;
  // Each epoch's chunks sit in a folder of their own storage id (relay/src/storage/disk.ts layout).
  const sid = epochStorageId(before.id, from);
  const old = stack.relayProcs.map((r) => join(r.dataDir, 'chunks', sid.slice(0, 2), sid));
  expect(old.every((dir) => existsSync(dir) && readdirSync(dir).length > 0)).toBe(true);
  const url = await linkThroughUi(page, FILE.name);

  // The recipient: a fresh context, no account, saving through OPFS.
  const context = await browser.newContext({ baseURL: stack.url });
  try {
    const r = await context.newPage();
    await saveToOpfs(r);
    await r.goto(url);
    await ready(r);
    proxy.rate = SLOW;
    proxy.tokens = [];
    const gets = () => proxy.tokens.filter((t) => t.method === 'GET');
    const box = r.getByTestId('link-retrieval');
    await box.getByRole('button', { name: 'Download' }).click();
    await expect.poll(() => gets().filter((t) => t.status === 200).length, { timeout: 60_000 }).toBeGreaterThan(0);

    const session = (await (await page.request.get('/api/session')).json()) as { csrfToken: string };
    const renew = await page.request.post(`/api/files/${before.id}/renew`, { headers: { Origin: stack.url, 'X-CSRF-Token': session.csrfToken } });
    expect(renew.status()).toBe(200);
    await expect.poll(async () => (await listed()).epoch, { timeout: 120_000, intervals: [500] }).toBe(from + 1);
    await expect(box).toHaveAttribute('data-status', 'working');
    await expect.poll(() => old.every((dir) => !existsSync(dir) || readdirSync(dir).length === 0), { timeout: 90_000, intervals: [500] }).toBe(true);
    await expect(box).toHaveAttribute('data-status', 'working');

    proxy.rate = undefined;
    await expect(box).toHaveAttribute('data-status', /done|error/, { timeout: 120_000 });
    await expect(box, await box.innerText()).toHaveAttribute('data-status', 'done');
    expect(await opfsSha256(r, FILE.name)).toBe(FILE.file.sha256);

    // relay-2 served the link's reads at epoch `from` first and at `from` + 1 last; anything refused was a
    // read at the old epoch that met the drop (404) or an expired token (401).
    const seen = gets();
    const eps = seen.map((t) => epochOf(t.token));
    expect(eps[0]).toBe(from);
    expect(eps.at(-1)).toBe(from + 1);
    expect(new Set(eps)).toEqual(new Set([from, from + 1]));
    expect(seen.filter((t) => t.status !== undefined && t.status !== 200).every((t) => (t.status === 404 || t.status === 401) && epochOf(t.token) === from)).toBe(true);
  } finally {
    await context.close();
  }
});
