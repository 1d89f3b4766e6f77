/**
 * `npm start` supervises (issue #16): a relay killed with SIGKILL no longer stops the coordinator and the
 * other relays. The coordinator keeps answering, files stay retrievable from the k relays left, and the
 * launcher brings the relay back (same port, same data, no new enrollment) so n relays serve again.
 */
import { test, expect } from '../fixtures.js';
import { killRelay, startStack, type RunningStack } from '../stack.js';
import { chooseSharing, makeFile, openAsNewAdmin, opfsSha256, protectThroughUi, retrieveThroughUi } from '../helpers.js';
import type { Page } from '@playwright/test';

test.describe.configure({ mode: 'serial', timeout: 180_000 });

let stack: RunningStack;
let page: Page;
const before = { name: 'before-crash.bin', file: makeFile('before-crash.bin', 2 * 1024 * 1024 + 3) };
const after = { name: 'after-restart.bin', file: makeFile('after-restart.bin', 1024 * 1024 + 11) };

const online = async () => ((await (await fetch(`${stack.url}/api/health`)).json()) as { relaysOnline: number }).relaysOnline;

test.beforeAll(async ({ browser }) => {
  // Starting a stack of its own (a coordinator and relays) can take over a minute on a loaded 2-core machine.
  test.setTimeout(180_000);
  // A first restart delay long enough to use the product while the relay is down.
  stack = await startStack({ relays: 3, tier: 'Essential', env: { KOFN_STACK_RESTART_DELAY_MS: '6000' } });
  page = await openAsNewAdmin(browser, stack.url);
  await chooseSharing(page, 2, 3);
  await protectThroughUi(page, before.file, before.name);
});

test.afterAll(async () => {
  await page?.context().close();
  await stack?.stop();
});

test('a killed relay leaves the rest running, files stay retrievable, and the relay comes back', async () => {
  const victim = stack.relayProcs[0]!;
  const oldPid = victim.pid;
  const back = stack.restarted(victim.name);
  await killRelay(victim);
  // The coordinator and the other relays are still up.
  expect((await fetch(`${stack.url}/api/health`)).status).toBe(200);
  for (const r of stack.relayProcs.slice(1)) expect((await fetch(`${r.url}/v1/health`)).status).toBe(200);
  // k = 2 of the 3 relays are enough while the third is down.
  await page.reload();
  await retrieveThroughUi(page, before.name);
  await expect(
    page
      .getByTestId('transfer')
      .filter({ hasText: `Retrieving ${before.name}` })
      .first()
  ).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, before.name)).toBe(before.file.sha256);

  await back;
  expect(victim.pid).not.toBe(oldPid);
  expect((await fetch(`${victim.url}/v1/health`)).status).toBe(200);
  await expect.poll(online, { timeout: 30_000 }).toBe(3);
  // All three take shares again: a new file protected on all of them rebuilds.
  await page.reload();
  await chooseSharing(page, 3, 3);
  await protectThroughUi(page, after.file, after.name);
  await retrieveThroughUi(page, after.name);
  expect(await opfsSha256(page, after.name)).toBe(after.file.sha256);
});
