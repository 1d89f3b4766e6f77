/**
 * The owner's browser authenticates repaired shares (issue #16; shared/docs/repair.md, "Verification by the
 * owner's browser") on a stack of its own (3 relays, a (2,3) file): relay-1's share of the file is deleted,
 * the check finds it missing and the repair job rebuilds it (verified by digest root only: the coordinator
 * holds no MAC key); the owner's open Files page rebuilds the file from a k-subset including the repaired
 * share, authenticating every chunk and keeping nothing, and the file's health reads "verified by you". Then
 * relay-2's share is repaired while no page is open and a byte of it is flipped on the relay afterwards (its
 * listing still matches the recorded root, so no check can see it): the page's check names relay-2, the
 * share is marked damaged and repaired again, and the second check verifies it. The two new routes answer
 * signed-out, CSRF-less, stranger, grantee, malformed, oversized and stale requests with their codes.
 */
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIResponse, Page } from '@playwright/test';
import { ADMIN, expect, test } from '../fixtures.js';
import { startStack, type RunningStack } from '../stack.js';
import { chooseSharing, makeFile, opfsSha256, protectThroughUi, retrieveThroughUi, saveToOpfs, setVisibility } from '../helpers.js';

test.describe.configure({ mode: 'serial', timeout: 240_000 });

let stack: RunningStack;
let page: Page;
let csrf = '';
let fileId = '';
const held = { name: 'repaired-then-checked.bin', file: makeFile('repaired-then-checked.bin', 1024 * 1024 + 9) };
const BOB = { email: 'bob@kofn.test', displayName: 'Bob', password: 'bob password 123' };

const codeOf = async (r: APIResponse) => ((await r.json()) as { error: { code: string } }).error.code;
const relayNamed = (name: string) => stack.relayProcs.find((r) => r.name === name)!;
/** The folder of the file's share chunks on a disk relay at epoch 0 (relay/src/storage/disk.ts). */
const shareDir = (name: string) => join(relayNamed(name).dataDir, 'chunks', fileId.slice(0, 2), fileId);
const post = (path: string, data: unknown) => page.request.post(path, { data, headers: { Origin: stack.url, 'X-CSRF-Token': csrf } });
const pending = async () => ((await (await page.request.get('/api/files/verification')).json()) as { files: Array<{ fileId: string; epoch: number; relayIds: string[] }> }).files;
const healthCell = () => page.getByTestId('file-row').filter({ hasText: held.name }).getByTestId('file-health');
const repairHistory = () => page.getByTestId('history-row').filter({ hasText: held.name }).filter({ hasText: 'repair' });

/** The person leaves the tab and comes back: the page looks for repaired shares to check then. */
async function backToTab(): Promise<void> {
  await setVisibility(page, 'hidden');
  await setVisibility(page, 'visible');
}

/** Deletes the relay's share of the file; the check finds it missing and the job runner repairs it (it polls every second). */
async function loseAndRepair(name: string): Promise<void> {
  rmSync(shareDir(name), { recursive: true, force: true });
  expect((await post(`/api/files/${fileId}/health`, {})).status()).toBe(200);
  await expect.poll(async () => ((await (await page.request.get(`/api/files/${fileId}/health`)).json()) as { health: { state: string } }).health.state, { timeout: 60_000 }).toBe('healthy');
}

test.beforeAll(async ({ browser }) => {
  test.setTimeout(240_000);
  stack = await startStack({ relays: 3, tier: 'Essential' });
  const context = await browser.newContext({ baseURL: stack.url });
  page = await context.newPage();
  const setup = await page.request.post('/api/setup', { data: ADMIN, headers: { Origin: stack.url } });
  expect(setup.status()).toBe(201);
  csrf = ((await setup.json()) as { csrfToken: string }).csrfToken;
  await saveToOpfs(page);
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  await protectThroughUi(page, held.file, held.name);
  const { files } = (await (await page.request.get('/api/files')).json()) as { files: Array<{ id: string; name: string }> };
  fileId = files.find((f) => f.name === held.name)!.id;
});

test.afterAll(async () => {
  await page?.context().close();
  await stack?.stop();
});

test('a lost share is repaired by the job and authenticated by the owner’s open page: the file reads verified', async () => {
  const relay1 = relayNamed('relay-1');
  expect(await pending()).toEqual([]);
  // The page's report is held until the check's state has been seen on screen.
  let release: () => void = () => undefined;
  const released = new Promise<void>((res) => (release = res));
  const reports: unknown[] = [];
  await page.route(`**/api/files/${fileId}/verification`, async (route) => {
    reports.push(route.request().postDataJSON());
    await released;
    await route.continue();
  });
  await loseAndRepair('relay-1');
  // The page, open all along (it asks no one while idle), finds the repaired share when the person comes back
  // to the tab, and checks it in the background.
  await backToTab();
  await expect(healthCell()).toHaveAttribute('data-verification', 'checking', { timeout: 60_000 });
  await expect(healthCell()).toHaveText(/^healthy\s*repaired · checking$/);
  await expect.poll(() => reports, { timeout: 60_000 }).toEqual([{ epoch: 0, relayIds: [relay1.id], ok: true }]);
  const row = page.getByTestId('file-row').filter({ hasText: held.name });
  const before = { cell: await healthCell().boundingBox(), row: await row.boundingBox() };
  release();
  await expect(healthCell()).toHaveAttribute('data-verification', 'verified', { timeout: 30_000 });
  await page.unrouteAll();
  await expect(healthCell()).toHaveAttribute('data-health', 'healthy');
  await expect(healthCell()).toHaveText(/^healthy\s*verified by you$/);
  // "repaired · checking" became "verified by you" in place: the cell and its row kept their size.
  expect({ cell: await healthCell().boundingBox(), row: await row.boundingBox() }).toEqual(before);
  expect(await pending()).toEqual([]);
  await expect(repairHistory().filter({ hasText: 'authenticated by your browser' }).first()).toContainText(`repaired share on ${relay1.name} authenticated by your browser at epoch 0`);
  // Only the check's reports: no transfer row was added for it.
  await expect(page.getByTestId('transfer').filter({ hasText: `Retrieving ${held.name}` })).toHaveCount(0);
});

test('a share repaired wrongly (bytes flipped after the repair) is caught by the page, marked damaged and repaired again', async () => {
  const relay2 = relayNamed('relay-2');
  // No Files page open while relay-2's share is repaired, so it is flipped before any browser checks it.
  await page.goto('/account');
  await loseAndRepair('relay-2');
  expect(await pending()).toEqual([{ fileId, k: 2, epoch: 0, relayIds: [relay2.id] }]);
  const dir = shareDir('relay-2');
  const chunk = join(
    dir,
    readdirSync(dir).find((n) => n.startsWith('1.'))!
  );
  const repaired = readFileSync(chunk);
  const flipped = Buffer.from(repaired);
  flipped[flipped.length - 100]! ^= 0x40;
  writeFileSync(chunk, flipped);
  // The coordinator's own check cannot tell: the relay lists the digest it recorded.
  const checked = (await (await post(`/api/files/${fileId}/health`, {})).json()) as { health: { state: string } };
  expect(checked.health.state).toBe('healthy');

  await page.goto('/');
  // The page's check names relay-2; the report marks the share damaged and queues its repair, which rebuilds
  // it; the next check verifies the rebuilt share.
  await expect(repairHistory().filter({ hasText: 'failed authentication' }).first()).toContainText(
    `repaired share on ${relay2.name} failed authentication in your browser at epoch 0: marked damaged, repair queued`,
    { timeout: 90_000 }
  );
  // Repaired again by the job; the page, back in front of the person, checks the rebuilt share.
  await expect.poll(pending, { timeout: 90_000 }).toEqual([{ fileId, k: 2, epoch: 0, relayIds: [relay2.id] }]);
  await backToTab();
  await expect(healthCell()).toHaveAttribute('data-verification', 'verified', { timeout: 120_000 });
  await expect(healthCell()).toHaveAttribute('data-health', 'healthy');
  await expect(repairHistory().filter({ hasText: `share on ${relay2.name} rebuilt` })).toHaveCount(2);
  await expect(repairHistory().filter({ hasText: `repaired share on ${relay2.name} authenticated by your browser` })).toHaveCount(1);
  // The rebuilt share is the very bytes the first repair wrote (same polynomial, same x), and the file reads whole.
  const now = readdirSync(dir).find((n) => n.startsWith('1.'))!;
  expect(readFileSync(join(dir, now)).equals(repaired)).toBe(true);
  await retrieveThroughUi(page, held.name);
  expect(await opfsSha256(page, held.name)).toBe(held.file.sha256);
});

test('the verification routes: signed out 401, no CSRF 403, stranger and grantee 404, bad bodies 400/413, stale 409, a repeat harmless', async ({ playwright }) => {
  const relay2 = relayNamed('relay-2');
  const path = `/api/files/${fileId}/verification`;
  const good = { epoch: 0, relayIds: [relay2.id], ok: true };
  const anon = await playwright.request.newContext({ baseURL: stack.url });
  const out = await anon.post(path, { data: good, headers: { Origin: stack.url } });
  expect([out.status(), await codeOf(out)]).toEqual([401, 'UNAUTHORIZED']);
  const outList = await anon.get('/api/files/verification');
  expect([outList.status(), await codeOf(outList)]).toEqual([401, 'UNAUTHORIZED']);
  const noCsrf = await page.request.post(path, { data: good, headers: { Origin: stack.url } });
  expect([noCsrf.status(), await codeOf(noCsrf)]).toEqual([403, 'CSRF_FAILED']);
  const otherOrigin = await page.request.post(path, { data: good, headers: { Origin: 'https://evil.example', 'X-CSRF-Token': csrf } });
  expect([otherOrigin.status(), await codeOf(otherOrigin)]).toEqual([403, 'CSRF_FAILED']);

  // Bob: a stranger, then a grantee with read access: the same 404 as a missing file, and nothing listed.
  expect((await post('/api/users', { ...BOB, role: 'user' })).status()).toBe(201);
  const bob = await playwright.request.newContext({ baseURL: stack.url });
  const login = await bob.post('/api/login', { data: { email: BOB.email, password: BOB.password }, headers: { Origin: stack.url } });
  const bh = { Origin: stack.url, 'X-CSRF-Token': ((await login.json()) as { csrfToken: string }).csrfToken };
  const stranger = await bob.post(path, { data: good, headers: bh });
  expect([stranger.status(), await codeOf(stranger)]).toEqual([404, 'NOT_FOUND']);
  expect((await post('/api/grants', { action: 'add_read', emails: [BOB.email], fileIds: [fileId] })).status()).toBe(200);
  const grantee = await bob.post(path, { data: { ...good, ok: false, badRelayIds: [relay2.id] }, headers: bh });
  expect([grantee.status(), await codeOf(grantee)]).toEqual([404, 'NOT_FOUND']);
  expect(((await (await bob.get('/api/files/verification')).json()) as { files: unknown[] }).files).toEqual([]);

  for (const [bad, code] of [
    [{}, 'WRONG_VALUE'],
    [{ ...good, relayIds: ['not a relay'] }, 'WRONG_VALUE'],
    [{ ...good, ok: false }, 'WRONG_VALUE'],
    [{ ...good, more: 1 }, 'BAD_REQUEST'],
    [[good], 'BAD_REQUEST']
  ] as const) {
    const r = await post(path, bad);
    expect([JSON.stringify(bad), r.status(), await codeOf(r)]).toEqual([JSON.stringify(bad), 400, code]);
  }
  const notJson = await page.request.post(path, { data: '{"epoch": 0,', headers: { Origin: stack.url, 'X-CSRF-Token': csrf, 'content-type': 'application/json' } });
  expect([notJson.status(), await codeOf(notJson)]).toEqual([400, 'BAD_REQUEST']);
  const huge = await post(path, { ...good, pad: 'x'.repeat(64 * 1024) });
  expect([huge.status(), await codeOf(huge)]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  const badId = await post('/api/files/not-a-file-id/verification', good);
  expect([badId.status(), await codeOf(badId)]).toEqual([404, 'NOT_FOUND']);

  // A replay of the page's report at another epoch, or a contrary one: stale. The same report again: harmless.
  const stale = await post(path, { ...good, epoch: 1 });
  expect([stale.status(), await codeOf(stale)]).toEqual([409, 'VERIFICATION_STALE']);
  const contrary = await post(path, { ...good, ok: false, badRelayIds: [relay2.id] });
  expect([contrary.status(), await codeOf(contrary)]).toEqual([409, 'VERIFICATION_STALE']);
  const again = await post(path, good);
  expect(again.status()).toBe(200);
  expect(await again.json()).toEqual({ fileId, epoch: 0, verified: [], failed: [] });
  await page.reload();
  await expect(healthCell()).toHaveAttribute('data-verification', 'verified');
  await bob.dispose();
  await anon.dispose();
});
