/**
 * A folder of 10,000 files in the browser (issue #18: the list virtualises): a private stack on a fresh
 * PostgreSQL database, the files written straight into its tables (listing only: they have no shares,
 * which a list never reads), then the real page in Chromium. Checked: only the rows near the viewport are
 * in the DOM while the whole list scrolls through, pages are fetched as the end nears, the table tells its
 * size and each row's place (aria-rowcount/aria-rowindex), Tab walks the rows into view, a selection made
 * at the top survives scrolling to the bottom and back, and phones get the same with cards. The frame
 * times while scrolling are measured and annotated (medians, longest). Without a reachable PostgreSQL the
 * file reports skipped, with the reason.
 */
import { test, expect, type Page } from '@playwright/test';
import { ADMIN } from '../fixtures.js';
import { openAsNewAdmin } from '../helpers.js';
import { freshPostgresDatabase, type PostgresDatabase } from '../postgres-database.js';
import { startStack, type RunningStack } from '../stack.js';

test.describe.configure({ mode: 'serial', timeout: 120_000 });

const COUNT = 10_000;
let pg: PostgresDatabase | undefined;
let stack: RunningStack | undefined;

test.beforeAll(async () => {
  test.setTimeout(240_000);
  const found = await freshPostgresDatabase();
  test.skip('skipped' in found, 'skipped' in found ? found.skipped : '');
  pg = found as PostgresDatabase;
  stack = await startStack({ relays: 2, databaseUrl: pg.url });
});

test.afterAll(async () => {
  await stack?.stop();
  await pg?.drop();
});

const name = (i: number) => `file-${String(i).padStart(5, '0')}.bin`;
const rendered = (page: Page) => page.getByTestId('file-row').count();

/** Scrolls the window to the end of the list until row `last` is rendered, fetching pages on the way. */
async function scrollToRow(page: Page, last: string): Promise<number> {
  let most = 0;
  for (let i = 0; i < 400; i++) {
    most = Math.max(most, await rendered(page));
    if ((await page.getByTestId('file-row').filter({ hasText: last }).count()) > 0) return most;
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    await page.waitForTimeout(50);
  }
  throw new Error(`${last} never rendered`);
}

test('10,000 files in one folder: a window of rows, pages on demand, keyboard, selection across pages, phones', async ({ browser }) => {
  const db = pg!;
  const page = await openAsNewAdmin(browser, stack!.url);
  // No request of the page may fail on the server's side while it lists 10,000 files.
  const failures: string[] = [];
  page.on('response', (r) => {
    if (r.status() >= 500) failures.push(`${r.request().method()} ${new URL(r.url()).pathname}${new URL(r.url()).search} ${r.status()}`);
  });
  const [owner] = await db.query<{ id: string }>(`select id from users where email = '${ADMIN.email}'`);
  // Newest first is the list's default order: file-00000 is the newest, so that order is the names' order.
  await db.query(`
    insert into files (id, owner_id, name, size, type, k, n, chunk_size, chunk_count, status, committed_at)
    select md5('kofn-e2e-10k-' || g), '${owner!.id}', 'file-' || lpad(g::text, 5, '0') || '.bin', 1000 + g,
           'application/octet-stream', 2, 2, 1048576, 1, 'available', now() - make_interval(secs => g)
    from generate_series(0, ${COUNT - 1}) g`);
  await db.query(`
    insert into placements (file_id, relay_id, x)
    select f.id, r.id, r.x from files f cross join (select id, row_number() over (order by id) as x from relays) r`);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.reload();
  await expect(page.getByTestId('file-row').first()).toContainText(name(0));

  // A window of rows, not the first page's 200: the spacer stands for the rest.
  const atStart = await rendered(page);
  expect(atStart).toBeGreaterThan(5);
  expect(atStart).toBeLessThan(80);
  const table = page.getByRole('table', { name: 'Your files' });
  expect(Number(await table.getAttribute('aria-rowcount'))).toBeGreaterThanOrEqual(501);

  // Select one near the top, then scroll through all 10,000 (pages fetched as the end nears).
  await page.getByRole('checkbox', { name: `Select ${name(3)}`, exact: true }).check();
  const most = await scrollToRow(page, name(COUNT - 1));
  expect(most).toBeLessThan(100);
  await expect(table).toHaveAttribute('aria-rowcount', String(COUNT + 1));
  const lastRow = page.getByTestId('file-row').filter({ hasText: name(COUNT - 1) });
  await expect(lastRow).toHaveAttribute('aria-rowindex', String(COUNT + 1));
  await lastRow.scrollIntoViewIfNeeded();
  await expect(lastRow).toBeInViewport();
  await page.getByRole('checkbox', { name: `Select ${name(COUNT - 2)}`, exact: true }).check();
  await expect(page.getByTestId('bulk-bar')).toContainText('2 selected');

  // Frame times while scrolling back up: wheel-sized steps (120 px a frame), then jumps (2,000 px a frame,
  // a whole new window of rows each time). Annotated with the machine's load (other runs share its 2 cores).
  const frames = await page.evaluate(async () => {
    const run = async (step: number, count: number) => {
      const gaps: number[] = [];
      let last = performance.now();
      for (let i = 0; i < count && window.scrollY > 0; i++) {
        window.scrollBy(0, -step);
        await new Promise(requestAnimationFrame);
        const now = performance.now();
        gaps.push(now - last);
        last = now;
      }
      gaps.sort((a, b) => a - b);
      const at = (q: number) => Math.round(gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * q))]! * 10) / 10;
      return { frames: gaps.length, median: at(0.5), p95: at(0.95), longest: at(1) };
    };
    return { wheel: await run(120, 200), jumps: await run(2000, 150) };
  });
  test.info().annotations.push({ type: 'scroll frame times in ms (10,000 rows)', description: `${JSON.stringify(frames)}; load ${(await import('node:os')).loadavg()[0]!.toFixed(1)}` });
  expect(frames.wheel.frames + frames.jumps.frames).toBeGreaterThan(300);
  await page.evaluate(() => window.scrollTo(0, 0));
  // The selection made on the first page is still there after the rows left the DOM and came back.
  await expect(page.getByRole('checkbox', { name: `Select ${name(3)}`, exact: true })).toBeChecked();
  expect(await rendered(page)).toBeLessThan(100);

  // Keyboard: Tab from a row's last button goes on through the next rows, each scrolled into view.
  await page.getByRole('button', { name: `Move ${name(0)}`, exact: true }).focus();
  for (let i = 0; i < 200; i++) await page.keyboard.press('Tab');
  const focusedRow = await page.evaluate(() => document.activeElement?.closest('tr')?.getAttribute('data-name') ?? null);
  expect(focusedRow).not.toBeNull();
  expect(Number(/\d+/.exec(focusedRow!)![0])).toBeGreaterThan(15);
  await expect(page.getByTestId('file-row').filter({ hasText: focusedRow! })).toBeInViewport();

  // Phones: cards, windowed the same way.
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(page.getByTestId('file-card').first()).toBeVisible();
  const cards = await page.getByTestId('file-card').count();
  expect(cards).toBeGreaterThan(3);
  expect(cards).toBeLessThan(60);
  await expect(page.getByTestId('file-card').first()).toHaveAttribute('aria-setsize', String(COUNT));
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await expect(page.getByTestId('file-card').filter({ hasText: name(COUNT - 1) })).toBeVisible();
  expect(await page.getByTestId('file-card').count()).toBeLessThan(60);
  expect(failures).toEqual([]);
  await page.context().close();
});

test('keyboard focus stays on its row when the row scrolls out of the window and when the list is loaded again', async ({ browser }) => {
  const db = pg!;
  const context = await browser.newContext({ baseURL: stack!.url });
  const page = await context.newPage();
  expect((await page.request.post('/api/login', { data: { email: ADMIN.email, password: ADMIN.password }, headers: { Origin: stack!.url } })).status()).toBe(200);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto('/');
  // The first page of 10,000 rows from PostgreSQL: under 5 s alone, not always in a CI run at load 25.
  await expect(page.getByTestId('file-row').first()).toContainText(name(0), { timeout: 30_000 });
  const focused = () => page.evaluate(() => (document.activeElement?.isConnected ? (document.activeElement.getAttribute('aria-label') ?? document.activeElement.tagName) : 'gone'));
  const row = (n: string) => page.getByTestId('file-row').filter({ hasText: n });

  // Keyboard to a row's control, then End scrolls the page to the list's end: the row leaves the window
  // of rendered rows, but the control keeps focus (without pinning it left the page and focus fell to the body).
  await page.getByRole('button', { name: `Retrieve ${name(4)}`, exact: true }).focus();
  await page.keyboard.press('Tab');
  expect(await focused()).toBe(`Share ${name(4)}`);
  await page.keyboard.press('End');
  // The end of what is loaded so far (the list loads its pages behind the first): thousands of pixels down.
  await expect.poll(() => page.evaluate(() => window.scrollY), { timeout: 30_000 }).toBeGreaterThan(10_000);
  expect(await focused()).toBe(`Share ${name(4)}`);
  await expect(row(name(4))).not.toBeInViewport();
  expect(await rendered(page)).toBeLessThan(100);
  // Tab goes on from there (the next control of the same row), which the browser scrolls back into view.
  await page.keyboard.press('Tab');
  expect(await focused()).toBe(`Rename ${name(4)}`);
  await expect(row(name(4))).toBeInViewport();

  // The list loaded again with 300 newer files above the row (coming back to the tab reloads it): the row
  // is now at index 304, far below the rendered window at the top, and still holds focus.
  await db.query(`
    insert into files (id, owner_id, name, size, type, k, n, chunk_size, chunk_count, status, committed_at)
    select md5('kofn-e2e-newer-' || g), owner_id, 'newer-' || lpad(g::text, 3, '0') || '.bin', 10, 'application/octet-stream', 2, 2, 1048576, 1, 'available', now() + make_interval(secs => 3600 - g)
    from generate_series(0, 299) g, (select owner_id from files limit 1) o`);
  await db.query(`
    insert into placements (file_id, relay_id, x)
    select f.id, r.id, r.x from files f cross join (select id, row_number() over (order by id) as x from relays) r where f.name like 'newer-%'`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await expect(row('newer-000.bin')).toBeVisible({ timeout: 30_000 });
  expect(await focused()).toBe(`Rename ${name(4)}`);
  await expect(row(name(4))).toHaveAttribute('aria-rowindex', String(304 + 2));
  await expect(row(name(4))).not.toBeInViewport();
  expect(await rendered(page)).toBeLessThan(100);
  await page.keyboard.press('Tab');
  expect(await focused()).toBe(`Move ${name(4)}`);
  await expect(row(name(4))).toBeInViewport();
  await context.close();
});
