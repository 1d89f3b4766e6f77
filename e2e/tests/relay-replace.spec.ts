/**
 * Replacing a storage server at a fresh x end to end (issue #16; shared/docs/renewal.md, "Replacing a relay at
 * a fresh x") on a stack of its own (4 relays): a (2,3) file on relays 1-3 is moved from relay-1 onto relay-4
 * through the admin page's "Replace with…" (in-app dialog), the coordinator's renew-replace job runs, the admin
 * page shows the progress and that relay-1 holds nothing of it any more, relay-4's folder holds its share, and
 * the file retrieves byte-identical in Chromium. The route refuses no session, non-administrators, missing
 * CSRF tokens, malformed bodies and ids, unknown or equal relays, and a replay (409).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { APIResponse, Page } from '@playwright/test';
import { expect, test } from '../fixtures.js';
import { startStack, type RunningStack } from '../stack.js';
import { chooseSharing, makeFile, openAsNewAdmin, opfsSha256, protectThroughUi, ready, retrieveThroughUi } from '../helpers.js';

test.describe.configure({ mode: 'serial', timeout: 240_000 });

let stack: RunningStack;
let page: Page;
const held = { name: 'replace-me.bin', file: makeFile('replace-me.bin', 1024 * 1024 + 11) };
const BOB = { email: 'bob@kofn.test', displayName: 'Bob', password: 'bob password 123' };

const codeOf = async (r: APIResponse) => ((await r.json()) as { error: { code: string } }).error.code;
const chunksIn = (dir: string): string[] => {
  const root = join(dir, 'chunks');
  return existsSync(root) ? readdirSync(root).flatMap((s) => readdirSync(join(root, s)).flatMap((f) => readdirSync(join(root, s, f)))) : [];
};
const relayNamed = (name: string) => stack.relayProcs.find((r) => r.name === name)!;

test.beforeAll(async ({ browser }) => {
  test.setTimeout(240_000);
  stack = await startStack({ relays: 4, tier: 'Pro' });
  page = await openAsNewAdmin(browser, stack.url);
  // The first three servers by name: relay-1, relay-2, relay-3; relay-4 holds nothing.
  await chooseSharing(page, 2, 3);
  await protectThroughUi(page, held.file, held.name);
});

test.afterAll(async () => {
  await page?.context().close();
  await stack?.stop();
});

test('replace relay-1 by relay-4 from the admin page: the job runs, the page shows the new placement, the file reads byte-identical', async () => {
  const [relay1, relay4] = [relayNamed('relay-1'), relayNamed('relay-4')];
  expect(chunksIn(relay1.dataDir).length).toBeGreaterThan(0);
  expect(chunksIn(relay4.dataDir)).toEqual([]);

  const admin = await page.context().newPage();
  await admin.goto('/admin');
  await ready(admin);
  const row = admin.locator('[data-testid="relay-row"][data-relay-name="relay-1"]');
  await row.getByRole('button', { name: 'Replace with…' }).click();
  // Asked in the page, not by the browser's confirm() (issue #17), with the consequences in plain words.
  const dialog = admin.getByTestId('relay-replace-dialog');
  await expect(dialog).toContainText('Moves every share onto the new server during the next renewal');
  await expect(dialog).toContainText('deleted after the grace period');
  // Only the other servers in service are offered.
  await expect(dialog.getByTestId('relay-replace-target').locator('option')).toHaveText(['relay-2', 'relay-3', 'relay-4']);
  await dialog.getByTestId('relay-replace-target').selectOption({ label: 'relay-4' });
  await dialog.getByRole('button', { name: 'Replace' }).click();
  await expect(row.getByRole('status')).toContainText('1 file(s) will move to relay-4');

  // Progress, then the outcome: relay-1 holds no share any more.
  const progress = row.getByTestId('relay-replace');
  await expect(progress).toHaveAttribute('data-left', '0', { timeout: 150_000 });
  await expect(progress).toHaveAttribute('data-held', '0');
  await expect(progress).toContainText('replaced by relay-4: 1 file(s) moved; holds 0 share(s)');
  await expect(admin.getByTestId('job').filter({ hasText: `Move a share onto the replacing server, file ${held.name}` })).toContainText('done');
  // relay-4's folder now holds the file's share (at epoch 1, under its derived storage id).
  expect(chunksIn(relay4.dataDir).length).toBeGreaterThan(0);

  // The file still retrieves byte-identical, now from the new set.
  await page.reload();
  await retrieveThroughUi(page, held.name);
  await expect(
    page
      .getByTestId('transfer')
      .filter({ hasText: `Retrieving ${held.name}` })
      .first()
  ).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, held.name)).toBe(held.file.sha256);
  await admin.close();
});

test('replace route: no session 401, a non-administrator 403, no CSRF token 403, bad body 400, bad id 404, equal 400, unknown 404, replay 409', async ({ playwright }) => {
  const [relay1, relay4] = [relayNamed('relay-1'), relayNamed('relay-4')];
  const anon = await playwright.request.newContext({ baseURL: stack.url });
  const adminCtx = await playwright.request.newContext({ baseURL: stack.url });
  const login = await adminCtx.post('/api/login', { data: { email: 'admin@kofn.test', password: 'correct horse battery' }, headers: { Origin: stack.url } });
  expect(login.status()).toBe(200);
  const h = { Origin: stack.url, 'X-CSRF-Token': ((await login.json()) as { csrfToken: string }).csrfToken };
  expect((await adminCtx.post('/api/users', { data: BOB, headers: h })).status()).toBe(201);
  const bob = await playwright.request.newContext({ baseURL: stack.url });
  const bobLogin = await bob.post('/api/login', { data: { email: BOB.email, password: BOB.password }, headers: { Origin: stack.url } });
  const bh = { Origin: stack.url, 'X-CSRF-Token': ((await bobLogin.json()) as { csrfToken: string }).csrfToken };

  // relay-4 holds the file now; relay-1 holds none of it and is in service: moving it back is a real request.
  const path = `/api/relays/${relay4.id}/replace`;
  const data = { to: relay1.id };
  const none = await anon.post(path, { data, headers: { Origin: stack.url } });
  expect([none.status(), await codeOf(none)]).toEqual([401, 'UNAUTHORIZED']);
  const user = await bob.post(path, { data, headers: bh });
  expect([user.status(), await codeOf(user)]).toEqual([403, 'FORBIDDEN']);
  const noToken = await adminCtx.post(path, { data, headers: { Origin: stack.url } });
  expect([noToken.status(), await codeOf(noToken)]).toEqual([403, 'CSRF_FAILED']);
  const otherOrigin = await adminCtx.post(path, { data, headers: { ...h, Origin: 'https://evil.example' } });
  expect([otherOrigin.status(), await codeOf(otherOrigin)]).toEqual([403, 'CSRF_FAILED']);
  for (const bad of [{}, { to: 7 }, { to: relay1.id, more: 1 }, [relay1.id]]) {
    const r = await adminCtx.post(path, { data: bad, headers: h });
    expect([JSON.stringify(bad), r.status(), await codeOf(r)]).toEqual([JSON.stringify(bad), 400, 'BAD_REQUEST']);
  }
  const notJson = await adminCtx.post(path, { data: 'to=relay-1', headers: { ...h, 'content-type': 'application/json' } });
  expect([notJson.status(), await codeOf(notJson)]).toEqual([400, 'BAD_REQUEST']);
  const badId = await adminCtx.post('/api/relays/not-a-relay/replace', { data, headers: h });
  expect([badId.status(), await codeOf(badId)]).toEqual([404, 'NOT_FOUND']);
  const same = await adminCtx.post(path, { data: { to: relay4.id }, headers: h });
  expect([same.status(), await codeOf(same)]).toEqual([400, 'WRONG_VALUE']);
  const unknown = await adminCtx.post(path, { data: { to: '00000000-0000-4000-8000-000000000000' }, headers: h });
  expect([unknown.status(), await codeOf(unknown)]).toEqual([404, 'NOT_FOUND']);
  // relay-2 already holds a share of the only file on relay-4.
  const holding = await adminCtx.post(path, { data: { to: relayNamed('relay-2').id }, headers: h });
  expect([holding.status(), await codeOf(holding)]).toEqual([409, 'CONFLICT']);

  // Accepted once; the same request again is refused (the job is under way, or done and relay-4 holds nothing).
  const first = await adminCtx.post(path, { data, headers: h });
  expect(first.status()).toBe(200);
  expect(((await first.json()) as { replacement: { queued: number } }).replacement.queued).toBe(1);
  const replay = await adminCtx.post(path, { data, headers: h });
  expect([replay.status(), await codeOf(replay)]).toEqual([409, 'CONFLICT']);
  // The job is listed for the administrator and finishes.
  await expect
    .poll(
      async () =>
        ((await (await adminCtx.get('/api/jobs')).json()) as { jobs: Array<{ kind: string; key: string; status: string }> }).jobs.find(
          (j) => j.kind === 'renew-replace' && j.key.endsWith(`:${relay4.id}`)
        )?.status,
      { timeout: 120_000 }
    )
    .toBe('done');
  // Oversized last: the coordinator answers before reading the whole body and closes that connection.
  const tooBig = await adminCtx.post(path, { data: { to: relay1.id, pad: 'x'.repeat(200 * 1024) }, headers: h });
  expect([tooBig.status(), await codeOf(tooBig)]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  await anon.dispose();
  await bob.dispose();
  await adminCtx.dispose();
});
