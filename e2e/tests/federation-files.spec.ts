/**
 * Files with a group on another deployment (issue #21 part 2; shared/docs/federation.md), with two whole kofn
 * deployments on loopback: X (three relays, which allow H's origin) and H (four relays in two labelled
 * groups, "site A" and "site B"). Proven in Chromium:
 *   - a user of H, linked at X in X's own window, protects a file over 3 of 3 groups {site A, site B,
 *     Deployment X} (the preset needs more groups than H holds, so that no single coordinator can rebuild
 *     the file; a layout where H's own groups meet K is refused, tree-layouts-remote.test.ts): the browser reserves the sub-file at X, uploads that group's sub-shares straight to X's
 *     relays with X's tokens and commits there; H records the remote group (X's deployment id, the
 *     sub-file's id) in the tree; no token of X's relays ever reaches H;
 *   - the file is retrieved byte-identical, reading X's relays with X's read tokens; so are 0 B and
 *     64 MiB + 7 B files over the same groups;
 *   - `kofn-recover`, offline, rebuilds it byte-identical from the relay folders of H's groups and of X's
 *     relays (where the group is a flat file under X's own id); from every folder H's relays hold, or with X's
 *     group one relay short, it refuses with NOT_ENOUGH_SHARES naming the groups it holds and what to add,
 *     writing nothing;
 *   - a protect cancelled midway leaves no file at H and no live sub-file at X;
 *   - removing a file for good (trash emptied) removes its sub-file at X: H lists it for its owner, and the
 *     browser, linked at X, removes it there on its next page load; the list is for signed-in sessions only;
 *   - with X stopped, H and its relays alone cannot rebuild the file: the retrieval fails, saving nothing.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { APIRequestContext, BrowserContext, Page, Request } from '@playwright/test';
import { expect, test } from '../fixtures.js';
import type { RunningStack } from '../stack.js';
import { openAccountLink, setUp, startTwoDeployments, UMA } from '../two-deployments.js';
import { makeFile, opfsSha256, protectThroughUi, ready, retrieveThroughUi, saveToOpfs } from '../helpers.js';

test.describe.configure({ mode: 'serial', timeout: 300_000 });

const FILE = { name: 'fed-3MiB.bin', file: makeFile('fed-3MiB.bin', 3 * 1024 * 1024 + 5) };
const GONE = { name: 'fed-removed.bin', file: makeFile('fed-removed.bin', 200_000) };

let x: RunningStack | undefined;
let h: RunningStack | undefined;
let xAdmin: { request: APIRequestContext; csrf: string };
let hContext: BrowserContext;
let hPage: Page;
let hHeaders: Record<string, string>;
const seen: Request[] = [];

interface Listed {
  files: Array<{ id: string; name: string; status: string; layout?: { groups: Array<{ fileId?: string }> } }>;
}

test.beforeAll(async ({ playwright, browser }) => {
  test.setTimeout(300_000);
  ({ x, h } = await startTwoDeployments({ relays: 4, tier: 'Elite' }));
  const request = await playwright.request.newContext();
  xAdmin = { request, csrf: await setUp(request, x.url) };
  const made = await request.post(`${x.url}/api/users`, { data: { ...UMA, role: 'user', mustChangePassword: false }, headers: { Origin: x.url, 'X-CSRF-Token': xAdmin.csrf } });
  expect(made.status()).toBe(201);
  const issued = await request.post(`${x.url}/api/federation/links`, { data: { name: 'Deployment H', origin: h.url }, headers: { Origin: x.url, 'X-CSRF-Token': xAdmin.csrf } });
  expect(issued.status()).toBe(201);
  const { token } = (await issued.json()) as { token: string };

  hContext = await browser.newContext({ baseURL: h.url });
  hContext.on('request', (r) => seen.push(r));
  hPage = await hContext.newPage();
  const hCsrf = await setUp(hPage.request, h.url);
  hHeaders = { Origin: h.url, 'X-CSRF-Token': hCsrf };
  const linked = await hPage.request.post('/api/federation/remotes', { data: { url: x.url, token }, headers: hHeaders });
  expect(linked.status(), await linked.text()).toBe(201);
  for (const [i, r] of h.relayProcs.entries()) {
    const patched = await hPage.request.patch(`/api/relays/${r.id}`, { data: { group: i < 2 ? 'site A' : 'site B' }, headers: hHeaders });
    expect(patched.status(), await patched.text()).toBe(200);
  }
  await saveToOpfs(hPage);
});

test.afterAll(async () => {
  await hContext?.close();
  await xAdmin?.request.dispose();
  await Promise.all([x?.stop(), h?.stop()]);
});

test('a file over {site A, site B, Deployment X}: X’s group goes straight to X’s relays, H records the sub-file, retrieval is identical', async () => {
  const X = x!;
  const H = h!;
  // Uma links this browser to her account at X, in X's own window.
  const { panel, popup } = await openAccountLink(hPage, X.url);
  await popup.getByRole('button', { name: 'Approve' }).click();
  await expect(panel.getByTestId('federation-standing')).toHaveText(`linked as ${UMA.email}`, { timeout: 30_000 });

  await hPage.goto('/');
  await ready(hPage);
  await hPage.getByTestId('layout-mode').selectOption('groups');
  await hPage.getByTestId('remote-group-choice').filter({ hasText: 'Deployment X' }).getByRole('checkbox').check();
  await expect(hPage.getByTestId('layout-preset')).toHaveText('3 groups, any 3; site A: 2 of 2, site B: 2 of 2, Deployment X: 2 of 3');
  await expect(hPage.getByTestId('layout-federated-note')).toBeVisible();
  seen.length = 0;
  await protectThroughUi(hPage, FILE.file, FILE.name);
  const row = hPage.getByTestId('file-row').filter({ has: hPage.getByText(FILE.name, { exact: true }) });
  await expect(row).toContainText('3 of 3 groups');
  await expect(row.getByTestId('tree-group')).toHaveCount(3);

  // H's record: two local groups with H's relays, and the remote group naming X and the sub-file there.
  const { files } = (await (await hPage.request.get('/api/files')).json()) as {
    files: Array<{ name: string; n: number; layout?: { k: number; groups: Array<{ kind: string; deployment?: string; fileId?: string; k: number; n?: number }> } }>;
  };
  const mine = files.find((f) => f.name === FILE.name)!;
  expect(mine.n).toBe(4);
  const remote = mine.layout!.groups[2]!;
  expect(remote).toMatchObject({ kind: 'remote', k: 2, n: 3 });
  // At X the sub-file is an ordinary file of Uma's, committed, under an opaque name.
  const atX = (await (await hContext.request.get(`${X.url}/api/files`)).json()) as { files: Array<{ id: string; name: string; status: string; k: number; n: number }> };
  expect(atX.files.find((f) => f.id === remote.fileId)).toMatchObject({ status: 'available', k: 2, n: 3 });
  expect(atX.files.find((f) => f.id === remote.fileId)!.name).not.toContain('fed');

  // Every sub-share of X's group went to X's relays from this page, with X's tokens; none of them reached H.
  const xRelays = new Set(X.relays.map((u) => new URL(u).origin));
  const toXRelays = seen.filter((r) => xRelays.has(new URL(r.url()).origin) && r.method() === 'PUT');
  expect(new Set(toXRelays.map((r) => new URL(r.url()).origin)).size).toBe(3);
  const xTokens = new Set<string>();
  for (const r of toXRelays) {
    const auth = (await r.allHeaders()).authorization;
    if (auth?.startsWith('Bearer ')) xTokens.add(auth.slice(7));
  }
  expect(xTokens.size).toBeGreaterThanOrEqual(3);
  for (const r of seen.filter((q) => new URL(q.url()).origin === H.url)) {
    const all = r.url() + JSON.stringify(await r.allHeaders()) + (r.postData() ?? '');
    for (const t of xTokens) expect(all).not.toContain(t);
  }

  seen.length = 0;
  await retrieveThroughUi(hPage, FILE.name);
  expect(await opfsSha256(hPage, FILE.name)).toBe(FILE.file.sha256);
  // Retrieval needs every group: X was asked for the sub-file's read tokens.
  expect(seen.some((r) => new URL(r.url()).origin === X.url && new URL(r.url()).pathname.endsWith('/tokens'))).toBe(true);
});

const recoverBin = resolve(import.meta.dirname, '../../shared/bin/kofn-recover.mjs');

/** Runs the offline recovery command on relay folders, into a fresh folder. */
function recover(dirs: string[]): Promise<{ code: number; stdout: string; out: string }> {
  const out = mkdtempSync(join(tmpdir(), 'kofn-e2e-fed-recovered-'));
  return new Promise((res) => {
    execFile(process.execPath, [recoverBin, '--out', out, ...dirs], { maxBuffer: 1024 * 1024 }, (err, stdout) => res({ code: err ? Number(err.code ?? 1) : 0, stdout, out }));
  });
}

test('kofn-recover rebuilds the file offline from the folders of H’s relays and X’s relays; H’s alone, or one relay of X short, it names what is missing', async () => {
  const { files } = (await (await hPage.request.get('/api/files')).json()) as Listed;
  const mine = files.find((f) => f.name === FILE.name)!;
  const sub = mine.layout!.groups[2]!.fileId!;
  // Sites A and B are H's four relays (2 of 2 each); X's group is 2 of X's 3 relays. K = 3 groups.
  const hRelays = h!.relayProcs.map((r) => r.dataDir);
  const xRelays = x!.relayProcs.map((r) => r.dataDir);
  const ok = await recover([...hRelays, xRelays[0]!, xRelays[2]!]);
  try {
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toContain('1 recovered, 0 failed');
    expect(ok.stdout).toMatch(new RegExp(`group \\d+ on another deployment: its file ${sub} at epoch 0`));
    expect(
      createHash('sha256')
        .update(readFileSync(join(ok.out, FILE.name)))
        .digest('hex')
    ).toBe(FILE.file.sha256);
    const manifest = JSON.parse(readFileSync(join(ok.out, 'kofn-recover-manifest.json'), 'utf8')) as { files: Array<{ fileId: string; remoteGroups?: Array<{ fileId: string; k: number }> }> };
    expect(manifest.files.map((f) => [f.fileId, f.remoteGroups?.map((g) => [g.fileId, g.k])])).toEqual([[mine.id, [[sub, 2]]]]);
  } finally {
    rmSync(ok.out, { recursive: true, force: true });
  }

  // K-1 groups' worth: H's groups whole, X's group one relay short. Refused, with what is held and what to add.
  const short = await recover([...hRelays, xRelays[1]!]);
  try {
    expect(short.code, short.stdout).toBe(1);
    expect(short.stdout).toContain(`FAILED ${mine.id}: needs 3 groups with k_g relays each; these folders hold 2. complete here: group `);
    expect(short.stdout).toContain('[NOT_ENOUGH_SHARES]');
    expect(short.stdout).toContain(`${sub} (1 of 2: ${xRelays[1]!})`);
    expect(short.stdout).toContain('add the relay folders of 1 more group');
    expect(readdirSync(short.out)).toEqual(['kofn-recover-manifest.json']);
  } finally {
    rmSync(short.out, { recursive: true, force: true });
  }
  // Everything H's relays hold (H's coordinator can mint tokens for all of them): not the file.
  const hOnly = await recover(hRelays);
  try {
    expect(hOnly.code, hOnly.stdout).toBe(1);
    expect(hOnly.stdout).toContain(`FAILED ${mine.id}: needs 3 groups with k_g relays each; these folders hold 2.`);
    expect(readdirSync(hOnly.out)).toEqual(['kofn-recover-manifest.json']);
  } finally {
    rmSync(hOnly.out, { recursive: true, force: true });
  }
});

test('removing a file for good removes its sub-file at X, from the owner’s browser', async ({ playwright }) => {
  const X = x!;
  await protectThroughUi(hPage, GONE.file, GONE.name);
  const mine = ((await (await hPage.request.get('/api/files')).json()) as Listed).files.find((f) => f.name === GONE.name)!;
  const sub = mine.layout!.groups[2]!.fileId!;
  const remoteDeployment = (mine.layout!.groups[2] as { deployment?: string }).deployment!;
  const xFiles = async () => ((await (await hContext.request.get(`${X.url}/api/files`)).json()) as Listed).files;
  const atX = async () => (await xFiles()).find((f) => f.id === sub)?.status;
  const hFiles = ((await (await hPage.request.get('/api/files')).json()) as Listed).files;
  const atXOf = async (name: string) => {
    const id = hFiles.find((f) => f.name === name)?.layout?.groups[2]?.fileId;
    return (await xFiles()).find((f) => f.id === id)?.status;
  };
  expect(await atX()).toBe('available');
  expect((await hPage.request.delete(`/api/files/${mine.id}`, { headers: hHeaders })).status()).toBe(200);
  expect((await hPage.request.delete('/api/trash', { headers: hHeaders })).status()).toBe(200);
  // H's delete-file job records the sub-file; the next page load removes it at X and clears it here.
  await expect
    .poll(
      async () => {
        await hPage.reload();
        await ready(hPage);
        return atX();
      },
      { timeout: 90_000, intervals: [2000] }
    )
    .not.toBe('available');
  await expect.poll(async () => ((await (await hPage.request.get('/api/federation/removals')).json()) as { removals: unknown[] }).removals, { timeout: 30_000 }).toEqual([]);
  // The list is for a signed-in person's session: none without one, none for an API token.
  const anonymous = await playwright.request.newContext({ baseURL: h!.url });
  expect((await anonymous.get('/api/federation/removals')).status()).toBe(401);
  expect((await anonymous.post('/api/federation/removals', { data: { deployment: 'x', fileId: sub }, headers: { Origin: h!.url } })).status()).toBe(401);
  await anonymous.dispose();
  const made = await hPage.request.post('/api/tokens', { data: { name: 'script', scopes: ['read', 'write'] }, headers: hHeaders });
  expect(made.status(), await made.text()).toBe(201);
  const bearer = await playwright.request.newContext({ baseURL: h!.url, extraHTTPHeaders: { Authorization: `Bearer ${((await made.json()) as { token: string }).token}` } });
  expect((await bearer.get('/api/federation/removals')).status()).toBe(403);
  await bearer.dispose();
  // A replayed clearing finds nothing; a malformed one is a 400 with its code.
  const replay = await hPage.request.post('/api/federation/removals', { data: { deployment: remoteDeployment, fileId: sub }, headers: hHeaders });
  expect(replay.status()).toBe(404);
  const malformed = await hPage.request.post('/api/federation/removals', { data: { deployment: remoteDeployment, fileId: 'nope' }, headers: hHeaders });
  expect([malformed.status(), ((await malformed.json()) as { error: { code: string } }).error.code]).toEqual([400, 'WRONG_VALUE']);
  // Oversized (the route reads at most 1 KiB) and without the CSRF token: refused before anything is read.
  const oversized = await hPage.request.post('/api/federation/removals', { data: { deployment: remoteDeployment, fileId: sub, pad: 'x'.repeat(4096) }, headers: hHeaders });
  expect(oversized.status()).toBe(413);
  expect((await hPage.request.post('/api/federation/removals', { data: { deployment: remoteDeployment, fileId: sub }, headers: { Origin: h!.url } })).status()).toBe(403);
  // The other file's sub-file at X is untouched.
  expect(await atXOf(FILE.name)).toBe('available');
});

test('0 B and 64 MiB + 7 B files over the same groups come back byte-identical', async () => {
  test.setTimeout(300_000);
  // The layout chosen in the first test stays selected (the settings live in the page; reload and choose again).
  await hPage.goto('/');
  await ready(hPage);
  await hPage.getByTestId('layout-mode').selectOption('groups');
  await hPage.getByTestId('remote-group-choice').filter({ hasText: 'Deployment X' }).getByRole('checkbox').check();
  await expect(hPage.getByTestId('layout-preset')).toHaveText('3 groups, any 3; site A: 2 of 2, site B: 2 of 2, Deployment X: 2 of 3');
  for (const [name, size] of [
    ['fed-empty.bin', 0],
    ['fed-64MiB.bin', 64 * 1024 * 1024 + 7]
  ] as const) {
    const file = makeFile(name, size);
    await protectThroughUi(hPage, file, name);
    const row = hPage.getByTestId('file-row').filter({ has: hPage.getByText(name, { exact: true }) });
    await expect(row).toContainText('3 of 3 groups');
    await retrieveThroughUi(hPage, name);
    expect(await opfsSha256(hPage, name), name).toBe(file.sha256);
    await hPage.evaluate(async (n) => (await navigator.storage.getDirectory()).removeEntry(n).catch(() => undefined), name);
  }
});

test('a protect cancelled midway leaves nothing on either deployment: no file here, no live sub-file at X', async () => {
  test.setTimeout(180_000);
  const X = x!;
  const live = async () => ((await (await hContext.request.get(`${X.url}/api/files`)).json()) as Listed).files.filter((f) => f.status === 'available' || f.status === 'reserved').map((f) => f.id);
  const before = await live();
  await hPage.goto('/');
  await ready(hPage);
  await hPage.getByTestId('layout-mode').selectOption('groups');
  await hPage.getByTestId('remote-group-choice').filter({ hasText: 'Deployment X' }).getByRole('checkbox').check();
  const name = 'fed-cancelled.bin';
  await hPage.getByTestId('file-input').setInputFiles(makeFile(name, 64 * 1024 * 1024).path);
  const running = hPage.getByTestId('transfer').filter({ hasText: name });
  await expect(running).toHaveAttribute('data-status', 'running');
  // Midway: the sub-file at X is reserved and shares are moving.
  await expect.poll(async () => (await live()).length, { timeout: 30_000 }).toBe(before.length + 1);
  await expect.poll(async () => Number(await running.locator('progress').getAttribute('value')), { timeout: 30_000 }).toBeGreaterThan(2);
  await running.getByRole('button', { name: 'Cancel' }).click();
  await expect(running).toHaveAttribute('data-status', 'cancelled');
  await expect.poll(live, { timeout: 30_000 }).toEqual(before);
  // The page removes the reservation here too (its DELETE may land just after the sub-file's at X).
  await expect.poll(async () => ((await (await hPage.request.get('/api/files')).json()) as Listed).files.filter((f) => f.name === name).map((f) => f.status), { timeout: 30_000 }).toEqual([]);
});

test('with Deployment X stopped, H and its relays alone cannot rebuild the file: the retrieval fails and saves nothing; protecting with X’s group is refused, storing nothing', async () => {
  const xHost = new URL(x!.url).host;
  await x!.stop();
  x = undefined;
  await hPage.reload();
  await hPage.evaluate(async (n) => (await navigator.storage.getDirectory()).removeEntry(n).catch(() => undefined), FILE.name);
  await retrieveThroughUi(hPage, FILE.name);
  const t = hPage
    .getByTestId('transfer')
    .filter({ hasText: `Retrieving ${FILE.name}` })
    .first();
  await expect(t).toHaveAttribute('data-status', 'error', { timeout: 120_000 });
  await expect(t.getByRole('alert')).toHaveText('Not enough storage servers answered to rebuild the file.');
  expect(await opfsSha256(hPage, FILE.name)).toBeNull();

  // Protecting with X's group while X is down: a clear error, and nothing stored here.
  await hPage.goto('/');
  await ready(hPage);
  await hPage.getByTestId('layout-mode').selectOption('groups');
  await hPage.getByTestId('remote-group-choice').filter({ hasText: 'Deployment X' }).getByRole('checkbox').check();
  const name = 'fed-x-down.bin';
  await hPage.getByTestId('file-input').setInputFiles(makeFile(name, 10_000).path);
  const p = hPage.getByTestId('transfer').filter({ hasText: name }).first();
  await expect(p).toHaveAttribute('data-status', 'error', { timeout: 60_000 });
  await expect(p.getByRole('alert')).toHaveText(`The other deployment at ${xHost} is not reachable.`);
  expect(((await (await hPage.request.get('/api/files')).json()) as Listed).files.some((f) => f.name === name)).toBe(false);
});
