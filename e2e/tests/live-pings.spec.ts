/**
 * Issue #17, live pings: the dashboard measures the round trip from the browser to each storage server
 * itself (the relay's public, tokenless /v1/ping), again every 10 s while the page is visible and never
 * while it is hidden, and its status agrees with the ping: a relay killed under the page reads "no answer"
 * and "not answering" together, without a reload. A stack of its own, since a relay is killed.
 */
import type { Page, Request } from '@playwright/test';
import { test, expect } from '../fixtures.js';
import { killRelay, startStack, type RunningStack } from '../stack.js';
import { openAsNewAdmin, ready } from '../helpers.js';

test.describe.configure({ timeout: 120_000 });

let stack: RunningStack;
test.beforeAll(async () => {
  // Starting a stack of its own (a coordinator and relays) can take over a minute on a loaded 2-core machine.
  test.setTimeout(180_000);
  stack = await startStack({ relays: 3, tier: 'Pro', tolerateRelayExits: true });
});
test.afterAll(async () => {
  await stack?.stop();
});

const row = (page: Page, name: string) => page.getByTestId('relay-row').filter({ hasText: name });

/** Makes the page report itself hidden or visible, as switching tabs does, and tells it so. */
async function setVisibility(page: Page, state: 'hidden' | 'visible'): Promise<void> {
  await page.evaluate((s) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => s });
    document.dispatchEvent(new Event('visibilitychange'));
  }, state);
}

test('pings refresh while visible, stop while hidden, and a killed relay reads "no answer" and "not answering" at once', async ({ browser }) => {
  const page = await openAsNewAdmin(browser, stack.url);
  await ready(page);
  const pings: Request[] = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/ping')) pings.push(r);
  });
  // Each ping goes straight to a relay, with no credentials of any kind.
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/ping')) expect(r.headers().authorization).toBeUndefined();
  });

  const names = stack.relayProcs.map((r) => r.name);
  const measured: string[] = [];
  for (const name of names) {
    await expect(row(page, name).getByTestId('relay-ping')).toHaveText(/^\d+(\.\d)? ms$/);
    await expect(row(page, name).getByTestId('relay-status')).toHaveText('online');
    measured.push(`${name} ${await row(page, name).getByTestId('relay-ping').innerText()}`);
  }
  test.info().annotations.push({ type: 'first pings (loopback)', description: measured.join(', ') });
  // What the shown ping measures (resource-timing.ts): the request's network time from Resource Timing, which
  // lies inside the clock around `await fetch()` (that clock also counts main-thread delays). 20 pings, both
  // readings of each; the medians go to the report.
  const both = await page.evaluate(async (relay) => {
    const url = `${relay}/v1/ping`;
    const out: Array<{ clock: number; network: number; timed: boolean }> = [];
    for (let i = 0; i < 20; i++) {
      performance.clearResourceTimings();
      const t0 = performance.now();
      await (await fetch(url, { cache: 'no-store' })).arrayBuffer();
      const clock = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 50));
      const e = performance.getEntriesByName(url, 'resource').at(-1) as PerformanceResourceTiming | undefined;
      out.push({ clock, network: e ? e.responseEnd - (e.requestStart > 0 ? e.requestStart : e.fetchStart) : NaN, timed: (e?.requestStart ?? 0) > 0 });
    }
    return out;
  }, stack.relays[0]!);
  const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const { clock, network } of both) expect(network).toBeLessThanOrEqual(clock + 0.5);
  // The relay grants the app's origin Timing-Allow-Origin, so the browser exposes requestStart and the ping is
  // the request's own time, not counted from fetchStart (service-worker dispatch, queueing, connecting).
  expect(both.map((b) => b.timed)).toEqual(both.map(() => true));
  test.info().annotations.push({
    type: 'ping medians, 20 pings (ms)',
    description: `network (Resource Timing) ${median(both.map((b) => b.network)).toFixed(1)}, clock around await fetch ${median(both.map((b) => b.clock)).toFixed(1)}`
  });

  // Refreshed while visible: a second round within the 10 s period (3 pings per relay per round).
  const firstRound = pings.length;
  await expect.poll(() => pings.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(firstRound + 3 * names.length);
  // The first round runs while the page loads (new connections, a busy browser); a later one is the idle figure.
  await page.waitForTimeout(1500);
  const later: string[] = [];
  for (const name of names) later.push(`${name} ${await row(page, name).getByTestId('relay-ping').innerText()}`);
  test.info().annotations.push({ type: 'later round (loopback)', description: later.join(', ') });

  // Hidden: no round for longer than a period.
  await setVisibility(page, 'hidden');
  await page.waitForTimeout(1000); // a round already under way finishes
  const whileHidden = pings.length;
  await page.waitForTimeout(11_000);
  expect(pings.length).toBe(whileHidden);

  // Visible again: a round at once.
  await setVisibility(page, 'visible');
  await expect.poll(() => pings.length, { timeout: 5000 }).toBeGreaterThan(whileHidden);

  // A relay killed under the open page: within a period it reads "no answer" and "not answering" together;
  // the others stay online.
  const victim = stack.relayProcs[2]!;
  await killRelay(victim);
  await expect(row(page, victim.name).getByTestId('relay-ping')).toHaveText('no answer', { timeout: 20_000 });
  await expect(row(page, victim.name).getByTestId('relay-status')).toHaveText('not answering');
  for (const name of names.filter((n) => n !== victim.name)) await expect(row(page, name).getByTestId('relay-status')).toHaveText('online');
  await page.context().close();
});
