/**
 * The browser's three kinds of "cannot reach" (issue #16), each with its own plain words, each made real:
 *   - this device has no network (Chromium taken offline): "You are offline ...";
 *   - fewer storage servers than a file needs (a relay process killed with SIGKILL): the message names the
 *     storage server that is not reachable and says how many are needed;
 *   - the kofn server itself is down (the coordinator process killed with SIGKILL; the launcher would
 *     restart it only after a minute): "The kofn server cannot be reached right now ...".
 * A stack of its own (processes are killed), two relays, a (2,2) file.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, expect } from '../fixtures.js';
import { killRelay, startStack, type RunningStack } from '../stack.js';
import { chooseSharing, makeFile, openAsNewAdmin, protectThroughUi, retrieveThroughUi } from '../helpers.js';
import type { Page } from '@playwright/test';

test.describe.configure({ mode: 'serial', timeout: 180_000 });

let stack: RunningStack;
let page: Page;
const A = { name: 'offline-a.bin', file: makeFile('offline-a.bin', 300_001) };

const alertOf = (name: string) =>
  page
    .getByTestId('transfer')
    .filter({ hasText: `Retrieving ${name}` })
    .first()
    .getByRole('alert');

/** The coordinator's PID: the launcher's child running web/build/index.js on this stack's data folder. */
function coordinatorPid(): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(join('/proc', entry, 'cmdline'), 'utf8');
      const env = readFileSync(join('/proc', entry, 'environ'), 'utf8').split('\0');
      if (cmd.includes('web/build/index.js') && env.includes(`KOFN_DATA_DIR=${stack.dataDir}`)) return Number(entry);
    } catch {
      /* gone meanwhile, or not ours */
    }
  }
  throw new Error('no coordinator process for this stack');
}

test.beforeAll(async ({ browser }) => {
  // Starting a stack of its own (a coordinator and relays) can take over a minute on a loaded 2-core machine.
  test.setTimeout(180_000);
  // Relays stay down once killed; a killed coordinator is restarted only after a minute.
  stack = await startStack({ relays: 2, tier: 'Essential', tolerateRelayExits: true, env: { KOFN_STACK_RESTART_DELAY_MS: '60000' } });
  page = await openAsNewAdmin(browser, stack.url);
  await chooseSharing(page, 2, 2);
  await protectThroughUi(page, A.file, A.name);
});

test.afterAll(async () => {
  await page?.context().close();
  await stack?.stop();
});

test('no network on this device: "you are offline"', async () => {
  await page.context().setOffline(true);
  await retrieveThroughUi(page, A.name);
  await expect(alertOf(A.name)).toHaveText(/^You are offline: this device has no network connection\./);
  await page.context().setOffline(false);
});

test('a storage server killed, fewer left than the file needs: the message names it', async () => {
  await killRelay(stack.relayProcs[0]!);
  await page.reload();
  await retrieveThroughUi(page, A.name);
  const alert = alertOf(A.name);
  await expect(alert).toContainText(`Storage server ${stack.relayProcs[0]!.name} is not reachable.`);
  await expect(alert).toContainText('2 of 2 are needed');
  await expect(alert).not.toContainText('offline:');
});

test('the kofn server killed: "the kofn server cannot be reached", not "offline"', async () => {
  await page.reload();
  const retrieve = page.getByRole('button', { name: `Retrieve ${A.name}`, exact: true }).first();
  await expect(retrieve).toBeVisible();
  process.kill(coordinatorPid(), 'SIGKILL');
  await expect
    .poll(
      async () =>
        fetch(`${stack.url}/api/health`).then(
          () => 'up',
          () => 'down'
        ),
      { timeout: 15_000 }
    )
    .toBe('down');
  await retrieve.click();
  // The retrieval's own row says it, and so does the page (its next refresh of the file list).
  await expect(alertOf(A.name)).toHaveText(/^The kofn server cannot be reached right now/, { timeout: 30_000 });
  await expect(alertOf(A.name)).not.toContainText('offline');
  await expect(
    page
      .getByRole('main')
      .getByRole('alert')
      .filter({ hasText: /^The kofn server cannot be reached right now/ })
      .first()
  ).toBeVisible({ timeout: 30_000 });
});
