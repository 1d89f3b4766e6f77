/**
 * Issue #15 in Chromium: a retrieval running while its file moves onto a new relay set. A (2,3) file on
 * relay-1..3; relay-2 sits behind a loopback proxy pacing share bodies and is the relay the page reads from
 * first (preferProxiedRelay). While the paced retrieval runs, the administrator replaces relay-2 by relay-4
 * at a fresh x (`POST /api/relays/:id/replace`: the renew-replace job, shared/docs/renewal.md "Replacing a
 * relay at a fresh x"); the file switches to epoch 1 on {relay-1, relay-3, relay-4}, and relay-2's share is
 * deleted after the grace (20 s in this build made for tests). The retrieval reads on from the new set at the
 * new epoch (web/src/lib/engine/retrieve.ts with shared/src/protocol/epoch-follow.ts) and saves the file
 * byte-identical. Asserted on state: the switch and the deletion happen while the transfer runs, relay-4
 * holds epoch 1, and relay-2 was only ever asked for epoch 0.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { epochStorageId } from '@kofn/shared/recover';
import type { Page } from '@playwright/test';
import { test, expect } from '../fixtures.js';
import { preferProxiedRelay, startProxiedStack, type ProxiedStack } from '../proxied-stack.js';
import { chooseSharing, makeFile, openAsNewAdmin, opfsSha256, protectThroughUi, ready } from '../helpers.js';
import { epochOf, listedFile, pacedStackEnv, retrievalRow } from '../paced-retrieval.js';

test.describe.configure({ mode: 'serial', timeout: 240_000 });

const TTL_S = 10;
const GRACE_S = 20;
const SLOW = 32 * 1024;
const SIZE = 8 * 1024 * 1024 + 5;
const FILE = { name: 'replaced-midway.bin', file: makeFile('replaced-midway.bin', SIZE) };

let proxied: ProxiedStack;
let page: Page;

const listed = () => listedFile(page, FILE.name);
const transfer = () => retrievalRow(page, FILE.name);

test.beforeAll(async ({ browser }) => {
  test.setTimeout(240_000);
  // relay-4 holds nothing until relay-2's share moves onto it.
  proxied = await startProxiedStack({ relays: 4, tier: 'Pro', env: pacedStackEnv(TTL_S, GRACE_S) });
  page = await openAsNewAdmin(browser, proxied.stack.url);
  await chooseSharing(page, 2, 3);
  await protectThroughUi(page, FILE.file, FILE.name);
});

test.afterAll(async () => {
  await page?.context().close();
  await proxied?.stop();
});

test('a retrieval running while its paced relay is replaced reads on from the new relay set, byte-identical', async () => {
  const { stack, proxy } = proxied;
  const before = await listed();
  expect(before.epoch).toBe(0);
  const relay = (name: string) => stack.relayProcs.find((r) => r.name === name)!;
  const onRelay2 = join(relay('relay-2').dataDir, 'chunks', before.id.slice(0, 2), before.id);
  expect(readdirSync(onRelay2).length).toBeGreaterThan(0);

  await page.reload();
  await ready(page);
  await preferProxiedRelay(proxied, page);
  proxy.rate = SLOW;
  proxy.tokens = [];
  const gets = () => proxy.tokens.filter((t) => t.method === 'GET');
  await page.getByRole('button', { name: `Retrieve ${FILE.name}`, exact: true }).click();
  await expect.poll(() => gets().filter((t) => t.status === 200).length, { timeout: 60_000 }).toBeGreaterThan(0);

  const session = (await (await page.request.get('/api/session')).json()) as { csrfToken: string };
  const replace = await page.request.post(`/api/relays/${relay('relay-2').id}/replace`, {
    data: { to: relay('relay-4').id },
    headers: { Origin: stack.url, 'X-CSRF-Token': session.csrfToken }
  });
  expect(replace.status(), await replace.text()).toBe(200);
  expect(((await replace.json()) as { replacement: { queued: number } }).replacement.queued).toBe(1);
  await expect.poll(async () => (await listed()).epoch, { timeout: 150_000, intervals: [500] }).toBe(1);
  await expect(transfer()).toHaveAttribute('data-status', 'running');
  await expect.poll(() => !existsSync(onRelay2) || readdirSync(onRelay2).length === 0, { timeout: 90_000, intervals: [500] }).toBe(true);
  await expect(transfer()).toHaveAttribute('data-status', 'running');
  const next = epochStorageId(before.id, 1);
  expect(readdirSync(join(relay('relay-4').dataDir, 'chunks', next.slice(0, 2), next)).length).toBeGreaterThan(0);

  proxy.rate = undefined;
  await expect(transfer()).toHaveAttribute('data-status', /done|error/, { timeout: 120_000 });
  await expect(transfer(), await transfer().innerText()).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, FILE.name)).toBe(FILE.file.sha256);
  // relay-2 left the set: it was only ever asked for epoch 0, and answered only part of the file's chunks
  // (metadata + 8 data chunks); the rest came from the new set at epoch 1.
  const seen = gets();
  expect(new Set(seen.map((t) => epochOf(t.token)))).toEqual(new Set([0]));
  const served = new Set(seen.filter((t) => t.status === 200).map((t) => t.path));
  expect(served.size).toBeLessThan(Math.ceil(SIZE / (1024 * 1024)) + 1);
});
