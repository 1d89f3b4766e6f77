/**
 * Multi-level sharing in the browser (issue #21), on a stack of its own with nine relays in three groups
 * ("cloud A", "cloud B", "cloud C", set by the administrator through the API): the protect settings offer
 * the preset "3 groups, any 2; 2 of 3 storage servers in each", the browser splits both levels in its
 * workers and uploads a sub-share to every relay (0 B, 1000 B, 3 MiB + 5 B and 64 MiB); each file's row
 * shows its tree. Then the whole of
 * cloud A and one relay of cloud B are killed (SIGKILL), and every file is retrieved whole from cloud B's
 * two other relays and cloud C.
 */
import { test, expect } from '../fixtures.js';
import { killRelay, startStack, type RunningStack } from '../stack.js';
import { ADMIN } from '../fixtures.js';
import { makeFile, opfsSha256, protectThroughUi, ready, retrieveThroughUi, saveToOpfs } from '../helpers.js';
import type { Page } from '@playwright/test';

test.describe.configure({ mode: 'serial', timeout: 300_000 });

let stack: RunningStack;
let page: Page;
const FILES = [
  ['ml-0B.bin', 0],
  ['ml-small.bin', 1000],
  ['ml-3MiB.bin', 3 * 1024 * 1024 + 5],
  ['ml-64MiB.bin', 64 * 1024 * 1024]
].map(([name, size]) => ({ name: name as string, file: makeFile(name as string, size as number) }));

test.beforeAll(async ({ browser }) => {
  test.setTimeout(300_000);
  stack = await startStack({ relays: 9, tier: 'Elite', tolerateRelayExits: true, env: { KOFN_STACK_RESTART_DELAY_MS: '600000' } });
  const context = await browser.newContext({ baseURL: stack.url });
  page = await context.newPage();
  const res = await page.request.post('/api/setup', { data: ADMIN, headers: { Origin: stack.url } });
  expect(res.status()).toBe(201);
  const { csrfToken } = (await res.json()) as { csrfToken: string };
  const groups = ['cloud A', 'cloud B', 'cloud C'];
  for (const [i, r] of stack.relayProcs.entries()) {
    const patched = await page.request.patch(`/api/relays/${r.id}`, { data: { group: groups[Math.floor(i / 3)] }, headers: { Origin: stack.url, 'X-CSRF-Token': csrfToken } });
    expect(patched.status(), await patched.text()).toBe(200);
  }
  await saveToOpfs(page);
  await page.goto('/');
});

test.afterAll(async () => {
  await page?.context().close();
  await stack?.stop();
});

test('protects 0 B, a small file, a few MiB and 64 MiB over 2 of 3 groups, 2 of 3 relays in each; each row shows the tree', async () => {
  await ready(page);
  await page.getByTestId('layout-mode').selectOption('groups');
  await expect(page.getByTestId('layout-preset')).toHaveText('3 groups, any 2; 2 of 3 storage servers in each');
  for (const f of FILES) {
    await protectThroughUi(page, f.file, f.name);
    const row = page.getByTestId('file-row').filter({ has: page.getByText(f.name, { exact: true }) });
    await expect(row).toContainText('2 of 3 groups');
    await expect(row.getByTestId('tree-group')).toHaveCount(3);
    await expect(row.getByTestId('tree-group').first()).toContainText('cloud A (2 of 3)');
    await expect(row.getByTestId('tree-relay')).toHaveCount(9);
  }
  // Every relay holds a share chunk of every chunk of every file (a sub-share each).
  const { files } = (await (await page.request.get('/api/files')).json()) as { files: Array<{ name: string; k: number; n: number; layout?: { k: number; groups: unknown[] } }> };
  for (const f of FILES) expect(files.find((x) => x.name === f.name)).toMatchObject({ k: 2, n: 9, layout: { k: 2, groups: [{}, {}, {}] } });
});

test('with the whole of cloud A and one relay of cloud B killed, every file is retrieved whole', async () => {
  for (const r of [...stack.relayProcs.slice(0, 3), stack.relayProcs[3]!]) await killRelay(r);
  for (const f of FILES) {
    // A fresh page for each: the notices of the previous retrieval (servers that did not answer) would cover the next button.
    await page.reload();
    await page.evaluate(async (n) => (await navigator.storage.getDirectory()).removeEntry(n).catch(() => undefined), f.name);
    await retrieveThroughUi(page, f.name);
    const t = page
      .getByTestId('transfer')
      .filter({ hasText: `Retrieving ${f.name}` })
      .first();
    await expect(t, await t.innerText()).toHaveAttribute('data-status', 'done');
    expect(await opfsSha256(page, f.name)).toBe(f.file.sha256);
  }
});

test('with a second relay of cloud B killed too, fewer than 2 groups remain: retrieval fails clearly and saves nothing', async () => {
  await killRelay(stack.relayProcs[4]!);
  await page.reload();
  const f = FILES[2]!; // 3 MiB
  await page.evaluate(async (n) => (await navigator.storage.getDirectory()).removeEntry(n).catch(() => undefined), f.name);
  await retrieveThroughUi(page, f.name);
  const t = page
    .getByTestId('transfer')
    .filter({ hasText: `Retrieving ${f.name}` })
    .first();
  await expect(t).toHaveAttribute('data-status', 'error');
  await expect(t.getByRole('alert')).toContainText('Some storage servers necessary for the operation are not connected');
  expect(await opfsSha256(page, f.name)).toBeNull();
});
