/**
 * Relay enrollment as an operator does it through the Administration page (issue #13 item 1: "a one-time
 * enrollment token per relay created by an administrator in the UI"), with a real relay process:
 * the administrator makes a token in the page, a new relay starts once with it, the page shows the
 * relay with the key fingerprint the relay itself logged, and the history records the enrollment. The
 * token works once: a second relay with the same token is refused and stops with a clear message. A new
 * key for that relay also needs the administrator ("New key token"): the relay keeps its id and URL, the
 * page shows the new fingerprint and the history records the key change.
 * On a stack of its own with a licence for 4 relays (the shared stack's licence is full).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test, expect, ADMIN } from '../fixtures.js';
import { ready } from '../helpers.js';
import { startStack, type RunningStack } from '../stack.js';
import { freePort } from '../../web/scripts/free-port.mjs';

const relayMain = resolve(import.meta.dirname, '..', '..', 'relay', 'dist', 'main.js');

let stack: RunningStack;
const folders: string[] = [];
const children: ChildProcess[] = [];

test.beforeAll(async () => {
  test.setTimeout(120_000);
  stack = await startStack({ relays: 2, tier: 'Custom', custom: [4, 10, 1_000_000_000, 100_000_000] });
});
test.afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGTERM');
  await stack?.stop();
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

interface RelayRun {
  child: ChildProcess;
  /** Every JSON log line the relay wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Resolves with the first log line that `match` accepts, or rejects when the relay exits first. */
  waitFor: (match: (l: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  text: () => string;
}

/** Starts a real relay process on a free port with its own data folder, as an operator would. */
async function startRelay(name: string, dataDir: string, token?: string): Promise<RelayRun> {
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    KOFN_RELAY_NAME: name,
    KOFN_RELAY_LOCATION: 'ui test',
    KOFN_RELAY_HOST: '127.0.0.1',
    KOFN_RELAY_PORT: String(port),
    KOFN_RELAY_PUBLIC_URL: `http://127.0.0.1:${port}`,
    KOFN_RELAY_DATA: dataDir,
    KOFN_COORDINATOR: stack.url,
    KOFN_RELAY_HEARTBEAT: '2',
    KOFN_WEB_ORIGINS: stack.url,
    ...(token ? { KOFN_RELAY_ENROLLMENT_TOKEN: token } : {})
  };
  const child = spawn(process.execPath, [relayMain], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  const logs: Array<Record<string, unknown>> = [];
  let raw = '';
  const waiters: Array<{ match: (l: Record<string, unknown>) => boolean; res: (l: Record<string, unknown>) => void }> = [];
  let buffered = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    raw += s;
    buffered += s;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      logs.push(parsed);
      for (const w of waiters.filter((x) => x.match(parsed))) w.res(parsed);
    }
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return {
    child,
    logs,
    exited,
    text: () => raw,
    waitFor: (match) => {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return Promise.race([
        new Promise<Record<string, unknown>>((res) => waiters.push({ match, res })),
        exited.then((code) => {
          throw new Error(`relay ${name} exited (${code}) before the expected log line: ${raw.slice(-2000)}`);
        })
      ]);
    }
  };
}

async function stopRelay(r: RelayRun): Promise<void> {
  if (r.child.exitCode === null && r.child.pid !== undefined) process.kill(r.child.pid, 'SIGTERM');
  await r.exited;
}

test('an administrator enrolls a new relay from the Administration page; the token works once; a new key needs a new token', async ({ browser }) => {
  test.setTimeout(180_000);
  const context = await browser.newContext({ baseURL: stack.url });
  const page = await context.newPage();
  expect((await page.request.post('/api/setup', { data: ADMIN, headers: { Origin: stack.url } })).status()).toBe(201);
  await page.goto('/admin');
  // Typed before hydration, the name was lost and the form sent empty (a CI run under load).
  await ready(page);
  const rows = page.getByTestId('relay-row');
  await expect(rows).toHaveCount(2);

  // 1. The administrator makes a token in the page; it is shown once, with the command to start the relay.
  await page.getByLabel("New storage server's name").fill('relay-ui');
  await page.getByRole('button', { name: 'Make an enrollment token' }).click();
  const issued = page.getByTestId('enrollment-token');
  await expect(issued).toContainText('Enrollment token for relay-ui');
  const token = (await issued.locator('pre').first().textContent())?.trim() ?? '';
  expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  await expect(issued.locator('pre').nth(1)).toHaveText(`KOFN_COORDINATOR=${stack.url} KOFN_RELAY_ENROLLMENT_TOKEN=${token} node relay/dist/main.js`);
  await page.reload();
  await expect(page.getByTestId('enrollment-token')).toHaveCount(0);
  await expect(page.getByText('Pending enrollments')).toBeVisible();

  // 2. The relay starts once with the token: it makes its own key, logs its fingerprint, and is assigned an id.
  const dir = mkdtempSync(join(tmpdir(), 'kofn-relay-ui-'));
  folders.push(dir);
  const relay = await startRelay('relay-ui', dir, token);
  const identity = await relay.waitFor((l) => l.msg === 'relay identity key');
  const fingerprint = String(identity.fingerprint);
  expect(fingerprint).toMatch(/^[0-9a-f]{4}(:[0-9a-f]{4}){7}$/);
  const enrolled = await relay.waitFor((l) => l.msg === 'enrolled at the coordinator');
  const relayId = String(enrolled.relayId);
  expect(relayId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  // The token itself is never logged.
  expect(relay.text()).not.toContain(token);

  // 3. The operator compares the fingerprint in the page with the one the relay logged.
  await page.reload();
  const row = page.locator('[data-testid="relay-row"][data-relay-name="relay-ui"]');
  await expect(row).toContainText(`key ${fingerprint}`);
  await expect(row).toContainText('online', { timeout: 20_000 });
  await expect(page.getByText('Pending enrollments')).toHaveCount(0);
  const history = (await (await page.request.get('/api/history')).json()) as { history: Array<{ operation: string }> };
  expect(history.history.map((h) => h.operation)).toEqual(expect.arrayContaining(['relay_enrollment', 'relay_enrolled']));

  // 4. The same token again, from another relay (another key): refused, the relay stops saying why.
  const dir2 = mkdtempSync(join(tmpdir(), 'kofn-relay-ui-'));
  folders.push(dir2);
  const thief = await startRelay('relay-thief', dir2, token);
  expect(await thief.exited).not.toBe(0);
  expect(thief.text()).toContain('ENROLLMENT_INVALID');
  await page.reload();
  await ready(page);
  await expect(rows).toHaveCount(3);
  await expect(page.locator('[data-testid="relay-row"][data-relay-name="relay-thief"]')).toHaveCount(0);

  // 5. A new key (the old one lost) is accepted only with a "New key token" from the administrator.
  await stopRelay(relay);
  rmSync(join(dir, 'relay-key.pem'));
  rmSync(join(dir, 'enrolled.json'));
  const keyless = await startRelay('relay-ui', dir);
  expect(await keyless.exited).not.toBe(0);
  expect(keyless.text()).toContain('enrollment token');
  await row.getByRole('button', { name: 'New key token' }).click();
  await expect(issued).toContainText('(new key for the existing server)');
  const rekey = (await issued.locator('pre').first().textContent())?.trim() ?? '';
  const again = await startRelay('relay-ui', dir, rekey);
  const newFingerprint = String((await again.waitFor((l) => l.msg === 'relay identity key')).fingerprint);
  expect(newFingerprint).not.toBe(fingerprint);
  expect(String((await again.waitFor((l) => l.msg === 'enrolled at the coordinator')).relayId)).toBe(relayId);
  await page.reload();
  await expect(row).toContainText(`key ${newFingerprint}`);
  const after = (await (await page.request.get('/api/history')).json()) as { history: Array<{ operation: string; detail: string }> };
  expect(after.history.find((h) => h.operation === 'relay_enrolled' && h.detail.includes('key replaced'))).toBeTruthy();
  await stopRelay(again);
  await context.close();
});
