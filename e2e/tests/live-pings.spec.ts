/**
 * Issue #17, live pings: the dashboard measures the round trip from the browser to each storage server
 * itself (the relay's public, tokenless /v1/ping), again every 10 s while the page is visible and never
 * while it is hidden, and its status agrees with the ping: a relay killed under the page reads "no answer"
 * and "not answering" together, without a reload. A stack of its own, since a relay is killed.
 */
import { readFileSync } from 'node:fs';
import type { Browser, Page, Request } from '@playwright/test';
import { test, expect, ADMIN } from '../fixtures.js';
import { killRelay, startStack, type RunningStack } from '../stack.js';
import { ready, setVisibility } from '../helpers.js';

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

/** CPU time a process has used so far (ms): utime + stime from /proc/<pid>/stat (proc(5), fields 14 and 15, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The stack's administrator, signed in in a fresh context (created on the stack's first use). */
async function adminPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ baseURL: stack.url });
  const page = await context.newPage();
  const origin = { Origin: stack.url };
  const setup = await page.request.post('/api/setup', { data: ADMIN, headers: origin });
  if (setup.status() !== 201) expect((await page.request.post('/api/login', { data: { email: ADMIN.email, password: ADMIN.password }, headers: origin })).status()).toBe(200);
  await page.goto('/');
  return page;
}

/**
 * What the live pings cost when nobody does anything (issue #17: "kept low"): an open, visible dashboard
 * left alone for IDLE_S, against the same time with no page open, on the same stack. Per relay: requests a
 * minute, bytes a minute both ways (headers included, as Chromium reports them; TCP/IP framing not counted),
 * new connections (the relay closes an idle keep-alive connection after 5 s, so each 10 s round opens one),
 * and the relay's CPU time a minute from /proc. The figures go to the report.
 */
test('an idle dashboard costs each relay about 18 pings a minute, under 2 KB each and under 1% of a core', async ({ browser }) => {
  test.setTimeout(180_000);
  const IDLE_S = 30;
  const relays = stack.relayProcs;
  const cpu = () => relays.map((r) => cpuMs(r.pid));
  const perMinute = (x: number) => (x * 60) / IDLE_S;

  // No page: what the relays spend on their own (heartbeats to the coordinator, timers).
  let before = cpu();
  await new Promise((r) => setTimeout(r, IDLE_S * 1000));
  const alone = cpu().map((ms, i) => ms - before[i]!);

  const page = await adminPage(browser);
  await ready(page);
  await expect(page.getByTestId('relay-ping').first()).toHaveText(/ms$/);
  // Past the first round (page load): the steady state.
  await page.waitForTimeout(2000);
  const seen: Request[] = [];
  page.on('requestfinished', (r) => void seen.push(r));
  before = cpu();
  await page.waitForTimeout(IDLE_S * 1000);
  const withPage = cpu().map((ms, i) => ms - before[i]!);
  const requests = [...seen];

  const pings = requests.filter((r) => r.url().endsWith('/v1/ping'));
  const others = requests.filter((r) => !r.url().endsWith('/v1/ping')).map((r) => `${r.method()} ${new URL(r.url()).pathname}`);
  let bytes = 0;
  for (const r of pings) {
    const s = await r.sizes();
    bytes += s.requestHeadersSize + s.requestBodySize + s.responseHeadersSize + s.responseBodySize;
  }
  // A new connection shows in Resource Timing as connectEnd after connectStart (the relay grants timing to the app).
  const connections = await page.evaluate(
    () => performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/v1/ping') && (e as PerformanceResourceTiming).connectEnd > (e as PerformanceResourceTiming).connectStart).length
  );
  // The idle windows' CPU differs by less than their noise; a burst of pings to one relay gives the cost of one.
  const BURST = 300;
  const burstBefore = cpuMs(relays[0]!.pid);
  const burstWall = await page.evaluate(
    async ({ url, count }) => {
      const t0 = performance.now();
      for (let i = 0; i < count; i++) await (await fetch(`${url}/v1/ping`, { cache: 'no-store' })).arrayBuffer();
      return performance.now() - t0;
    },
    { url: relays[0]!.url, count: BURST }
  );
  const perPing = (cpuMs(relays[0]!.pid) - burstBefore) / BURST;
  const n = relays.length;
  const report = {
    'relay CPU ms per ping (burst of 300)': perPing.toFixed(2),
    'relay CPU ms a minute for 18 pings': (18 * perPing).toFixed(0),
    'burst wall ms per ping': (burstWall / BURST).toFixed(2),
    'pings a minute per relay': perMinute(pings.length / n).toFixed(1),
    'bytes a minute per relay (headers both ways)': Math.round(perMinute(bytes / n)),
    'bytes per ping': Math.round(bytes / Math.max(1, pings.length)),
    'new connections during the whole page life, all relays': connections,
    'relay CPU ms a minute, page open': withPage.map((ms) => Math.round(perMinute(ms))).join(', '),
    'relay CPU ms a minute, no page': alone.map((ms) => Math.round(perMinute(ms))).join(', '),
    'other requests while idle': others.length ? others.join(', ') : 'none'
  };
  test.info().annotations.push({ type: 'idle ping cost', description: JSON.stringify(report) });

  // Rounds every 10 s of 3 pings per relay (the median of three): 18 a minute, give or take a round's edge.
  expect(perMinute(pings.length / n)).toBeGreaterThanOrEqual(12);
  expect(perMinute(pings.length / n)).toBeLessThanOrEqual(24);
  // An empty 204 with CORS and security headers: well under 2 KB a ping, so under 40 KB a minute per relay.
  expect(bytes / pings.length).toBeLessThan(2000);
  // An idle page asks the coordinator nothing.
  expect(others).toEqual([]);
  // What the pings add to a relay's CPU stays under 1% of one core (600 ms a minute), whatever the load.
  for (let i = 0; i < n; i++) expect(perMinute(withPage[i]! - alone[i]!)).toBeLessThan(600);
  expect(18 * perPing).toBeLessThan(600);
  await page.context().close();
});

test('pings refresh while visible, stop while hidden, and a killed relay reads "no answer" and "not answering" at once', async ({ browser }) => {
  const page = await adminPage(browser);
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
