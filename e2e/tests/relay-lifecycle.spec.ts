/**
 * Relay lifecycle end to end (issue #16) on a stack of its own (4 relays, the launcher behind `npm start`):
 * relay-1 holds several files and is drained from the admin page while an upload onto it runs; the
 * upload completes, every share moves to another relay (progress shown), relay-1's folder ends empty,
 * every file retrieves byte-identical in Chromium with relay-1 killed, and relay-1 is retired. The new
 * routes refuse no session, non-administrators, missing CSRF tokens, malformed ids and replays.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { APIResponse, Page } from '@playwright/test';
import { expect, test } from '../fixtures.js';
import { killRelay, startStack, type RunningStack } from '../stack.js';
import { chooseSharing, makeFile, openAsNewAdmin, opfsSha256, protectThroughUi, ready, retrieveThroughUi } from '../helpers.js';

test.describe.configure({ mode: 'serial', timeout: 240_000 });

let stack: RunningStack;
let page: Page;
const held = [
  { name: 'held-a.bin', file: makeFile('held-a.bin', 1024 * 1024 + 5) },
  { name: 'held-b.bin', file: makeFile('held-b.bin', 300_001) },
  { name: 'held-c.bin', file: makeFile('held-c.bin', 17) }
];
const during = { name: 'during-drain.bin', file: makeFile('during-drain.bin', 8 * 1024 * 1024 + 3) };
const BOB = { email: 'bob@kofn.test', displayName: 'Bob', password: 'bob password 123' };

const codeOf = async (r: APIResponse) => ((await r.json()) as { error: { code: string } }).error.code;
const chunksIn = (dir: string): string[] => {
  const root = join(dir, 'chunks');
  return existsSync(root) ? readdirSync(root).flatMap((s) => readdirSync(join(root, s)).flatMap((f) => readdirSync(join(root, s, f)))) : [];
};

test.beforeAll(async ({ browser }) => {
  // Four relays, a coordinator and three uploads: more than the default hook time on a busy machine.
  test.setTimeout(240_000);
  stack = await startStack({ relays: 4, tier: 'Pro', tolerateRelayExits: true });
  page = await openAsNewAdmin(browser, stack.url);
  await chooseSharing(page, 2, 3);
  for (const f of held) await protectThroughUi(page, f.file, f.name);
});

test.afterAll(async () => {
  await page?.context().close();
  await stack?.stop();
});

test('drain relay-1 from the admin page while an upload onto it runs: it ends empty and every file reads byte-identical without it', async () => {
  const relay1 = stack.relayProcs.find((r) => r.name === 'relay-1')!;
  expect(chunksIn(relay1.dataDir).length).toBeGreaterThan(0);
  // The upload reserves relays 1-3 (its reservation is answered before the drain begins) ...
  await chooseSharing(page, 2, 3);
  // One file's reservation or a batch of them (the page gathers reservations made together: engine/batcher.ts).
  const reserved = page.waitForResponse((r) => /\/api\/files(\/batch)?$/.test(new URL(r.url()).pathname) && r.request().method() === 'POST');
  await page.getByTestId('file-input').setInputFiles(during.file.path);
  expect((await reserved).status()).toBe(201);

  // ... and relay-1 is drained from the admin page in another tab meanwhile.
  const admin = await page.context().newPage();
  await admin.goto('/admin');
  await ready(admin);
  const row = admin.getByTestId('relay-row').filter({ hasText: 'relay-1' });
  await expect(row.getByTestId('relay-lifecycle')).toHaveAttribute('data-lifecycle', 'active');
  await row.getByRole('button', { name: 'Drain' }).click();
  // Asked in the page, not by the browser's confirm() (issue #17).
  await admin.getByTestId('relay-lifecycle-dialog').getByRole('button', { name: 'Drain' }).click();
  await expect(row.getByTestId('relay-lifecycle')).toHaveAttribute('data-lifecycle', 'draining');
  await expect(row.getByTestId('relay-lifecycle')).toContainText(/share\(s\) moved/);

  // The upload is not disturbed.
  const transfer = page.getByTestId('transfer').filter({ hasText: during.name }).first();
  await expect(transfer).toHaveAttribute('data-status', /done|error/, { timeout: 120_000 });
  await expect(transfer, await transfer.innerText()).toHaveAttribute('data-status', 'done');

  // Progress is shown until relay-1 holds nothing (the upload's share included), then it may be retired.
  await expect(row.getByTestId('relay-lifecycle')).toHaveAttribute('data-done', 'true', { timeout: 150_000 });
  await expect(row.getByTestId('relay-lifecycle')).toContainText('ready to retire');
  await expect.poll(() => chunksIn(relay1.dataDir), { timeout: 60_000 }).toEqual([]);
  // New uploads no longer offer relay-1.
  await page.reload();
  await ready(page);
  await expect(page.locator('.relay-choice')).toHaveCount(3);
  await expect(page.locator('.relay-choice').filter({ hasText: 'relay-1' })).toHaveCount(0);

  // With relay-1 gone altogether, every file still retrieves byte-identical in Chromium.
  await killRelay(relay1);
  for (const f of [...held, during]) {
    await retrieveThroughUi(page, f.name);
    await expect(
      page
        .getByTestId('transfer')
        .filter({ hasText: `Retrieving ${f.name}` })
        .first()
    ).toHaveAttribute('data-status', 'done');
    expect(await opfsSha256(page, f.name), f.name).toBe(f.file.sha256);
  }

  await row.getByRole('button', { name: 'Retire' }).click();
  await admin.getByTestId('relay-lifecycle-dialog').getByRole('button', { name: 'Retire' }).click();
  await expect(row.getByTestId('relay-lifecycle')).toHaveAttribute('data-lifecycle', 'retired');
  await admin.close();
});

test('lifecycle routes: no session 401, a non-administrator 403, no CSRF token 403, a malformed id 404, a replay 409', async ({ playwright }) => {
  const relay2 = stack.relayProcs.find((r) => r.name === 'relay-2')!;
  const anon = await playwright.request.newContext({ baseURL: stack.url });
  const adminCtx = await playwright.request.newContext({ baseURL: stack.url });
  const login = await adminCtx.post('/api/login', { data: { email: 'admin@kofn.test', password: 'correct horse battery' }, headers: { Origin: stack.url } });
  expect(login.status()).toBe(200);
  const csrf = ((await login.json()) as { csrfToken: string }).csrfToken;
  const h = { Origin: stack.url, 'X-CSRF-Token': csrf };
  expect((await adminCtx.post('/api/users', { data: BOB, headers: h })).status()).toBe(201);
  const bob = await playwright.request.newContext({ baseURL: stack.url });
  const bobLogin = await bob.post('/api/login', { data: { email: BOB.email, password: BOB.password }, headers: { Origin: stack.url } });
  const bh = { Origin: stack.url, 'X-CSRF-Token': ((await bobLogin.json()) as { csrfToken: string }).csrfToken };

  for (const action of ['drain', 'lost', 'retire']) {
    const path = `/api/relays/${relay2.id}/${action}`;
    const none = await anon.post(path, { headers: { Origin: stack.url } });
    expect([action, none.status(), await codeOf(none)]).toEqual([action, 401, 'UNAUTHORIZED']);
    const user = await bob.post(path, { headers: bh });
    expect([action, user.status(), await codeOf(user)]).toEqual([action, 403, 'FORBIDDEN']);
    const noToken = await adminCtx.post(path, { headers: { Origin: stack.url } });
    expect([action, noToken.status(), await codeOf(noToken)]).toEqual([action, 403, 'CSRF_FAILED']);
    const malformed = await adminCtx.post(`/api/relays/not-a-relay/${action}`, { headers: h });
    expect([action, malformed.status(), await codeOf(malformed)]).toEqual([action, 404, 'NOT_FOUND']);
  }
  // Nothing above changed relay-2; the administrator's own list shows it in service.
  const list = (await (await adminCtx.get('/api/relays')).json()) as { relays: Array<{ id: string; lifecycle: string; progress: { remaining: number } }> };
  expect(list.relays.find((r) => r.id === relay2.id)?.lifecycle).toBe('active');
  // Retiring a relay that holds shares is refused; a drain replayed is refused; a retired relay cannot be drained.
  const early = await adminCtx.post(`/api/relays/${relay2.id}/retire`, { headers: h });
  expect([early.status(), await codeOf(early)]).toEqual([409, 'CONFLICT']);
  const first = await adminCtx.post(`/api/relays/${relay2.id}/drain`, { headers: h });
  expect(first.status()).toBe(200);
  expect(((await first.json()) as { relay: { lifecycle: string } }).relay.lifecycle).toBe('draining');
  const replay = await adminCtx.post(`/api/relays/${relay2.id}/drain`, { headers: h });
  expect([replay.status(), await codeOf(replay)]).toEqual([409, 'CONFLICT']);
  const relay1 = stack.relayProcs.find((r) => r.name === 'relay-1')!;
  const retired = await adminCtx.post(`/api/relays/${relay1.id}/drain`, { headers: h });
  expect([retired.status(), await codeOf(retired)]).toEqual([409, 'CONFLICT']);
  await anon.dispose();
  await bob.dispose();
  await adminCtx.dispose();
});
