/**
 * Bulk revoke (issue #18) against the built app and real relays: tick files, "Stop sharing…", confirm in
 * the page's own dialog (Cancel changes nothing), and every read access and share link of those files ends
 * (the other person's list empties, the links read "revoked"); a file not ticked keeps its sharing. Over
 * HTTP: no session 401, no CSRF token 403, another user's file NOT_FOUND in its result, folders and
 * oversized selections 400 WRONG_VALUE.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect } from '../fixtures.js';
import { chooseSharing, errorCode, ready } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kofn-e2e-revoke-'));
const inDays = (d: number) => new Date(Date.now() + d * 86400_000).toISOString();

test('stop sharing a selection: grants and links of the ticked files end after an in-app confirmation', async ({ admin, stack, playwright }) => {
  test.setTimeout(120_000);
  const { page } = admin;
  const tag = randomBytes(3).toString('hex');
  const dave = { email: `dave-${tag}@kofn.test`, displayName: 'Dave', password: 'dave password 12', mustChangePassword: false };
  expect((await admin.post('/api/users', dave)).status()).toBe(201);
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  const names = [`rev-${tag}-a.bin`, `rev-${tag}-b.bin`, `rev-${tag}-keep.bin`];
  const paths = names.map((n) => {
    const p = join(dir, n);
    writeFileSync(p, randomBytes(2000));
    return p;
  });
  await ready(page);
  await page.getByTestId('file-input').setInputFiles(paths);
  const row = (n: string) => page.getByTestId('file-row').filter({ has: page.getByText(n, { exact: true }) });
  // A row shows as soon as its file is reserved; sharing needs the upload committed (a CI run got 404 here).
  for (const n of names) await expect(page.getByTestId('transfer').filter({ hasText: n }).first()).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
  for (const n of names) await expect(row(n)).toHaveCount(1, { timeout: 120_000 });
  const listed = (await (await admin.get(`/api/folders?q=rev-${tag}`)).json()) as { files: Array<{ id: string; name: string }> };
  const id = (n: string) => listed.files.find((f) => f.name === n)!.id;
  // Each file shared with Dave; a and keep also by link.
  expect((await admin.post('/api/grants', { action: 'add_read', emails: [dave.email], fileIds: names.map(id) })).status()).toBe(200);
  const publicKey = randomBytes(32).toString('base64url');
  const linkA = (await (await admin.post('/api/links', { fileId: id(names[0]!), publicKey, passwordProtected: false, expiresAt: inDays(3) })).json()) as { id: string };
  const linkKeep = (await (await admin.post('/api/links', { fileId: id(names[2]!), publicKey, passwordProtected: false, expiresAt: inDays(3) })).json()) as { id: string };

  const daveRequest = await playwright.request.newContext({ baseURL: stack.url });
  const login = await daveRequest.post('/api/login', { data: { email: dave.email, password: dave.password }, headers: { Origin: stack.url } });
  const daveHeaders = { Origin: stack.url, 'X-CSRF-Token': ((await login.json()) as { csrfToken: string }).csrfToken };
  const daveReads = async () =>
    ((await (await daveRequest.get('/api/shared/with-me')).json()) as { files: Array<{ name: string }> }).files
      .map((f) => f.name)
      .filter((n) => n.includes(tag))
      .sort();
  expect(await daveReads()).toEqual(names.toSorted());

  await page.reload();
  await ready(page);
  await page.getByRole('checkbox', { name: `Select ${names[0]}`, exact: true }).check();
  await page.getByRole('checkbox', { name: `Select ${names[1]}`, exact: true }).check();
  const bulk = page.getByTestId('bulk-bar');
  await bulk.getByRole('button', { name: 'Stop sharing…', exact: true }).click();
  const dialog = page.getByTestId('bulk-revoke-dialog');
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('Stop sharing 2 files?');
  // The safe choice has focus; Cancel changes nothing.
  await expect(dialog.getByRole('button', { name: 'Cancel', exact: true })).toBeFocused();
  await page.screenshot({ path: join(import.meta.dirname, '..', '..', 'test-results', 'screenshots', 'bulk-revoke-1280.png') });
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
  await expect(dialog).toBeHidden();
  expect(await daveReads()).toEqual(names.toSorted());

  await bulk.getByRole('button', { name: 'Stop sharing…', exact: true }).click();
  await dialog.getByRole('button', { name: 'Stop sharing', exact: true }).click();
  await expect(page.getByTestId('toast').filter({ hasText: 'Stopped sharing 2 files: 2 read accesses and 1 link revoked.' })).toBeVisible();
  expect(await daveReads()).toEqual([names[2]]);
  const links = (await (await admin.get('/api/links')).json()) as { links: Array<{ id: string; state: string }> };
  expect(links.links.find((l) => l.id === linkA.id)?.state).toBe('revoked');
  expect(links.links.find((l) => l.id === linkKeep.id)?.state).toBe('active');
  const byMe = (await (await admin.get('/api/shared/by-me')).json()) as { files: Array<{ name: string }> };
  expect(byMe.files.map((f) => f.name).filter((n) => n.includes(tag))).toEqual([names[2]]);

  // Over HTTP: Dave cannot revoke the admin's file (NOT_FOUND in its result, nothing changes).
  const daveTry = await daveRequest.post('/api/folders/bulk', { data: { action: 'revoke', files: [id(names[2]!)] }, headers: daveHeaders });
  expect(daveTry.status()).toBe(200);
  expect(((await daveTry.json()) as { results: unknown[] }).results).toEqual([{ ok: false, error: expect.objectContaining({ code: 'NOT_FOUND' }) }]);
  expect(await daveReads()).toEqual([names[2]]);
  // No session: 401; no CSRF token: 403; folders and 1,001 files: 400 WRONG_VALUE.
  const anon = await playwright.request.newContext({ baseURL: stack.url });
  expect((await anon.post('/api/folders/bulk', { data: { action: 'revoke', files: [id(names[2]!)] }, headers: { Origin: stack.url } })).status()).toBe(401);
  expect((await page.request.post('/api/folders/bulk', { data: { action: 'revoke', files: [id(names[2]!)] }, headers: { Origin: stack.url } })).status()).toBe(403);
  const folder = (await (await admin.post('/api/folders', { name: `revoke-folder-${tag}` })).json()) as { id: string };
  for (const data of [
    { action: 'revoke', folders: [folder.id] },
    { action: 'revoke', files: Array.from({ length: 1001 }, () => id(names[2]!)) }
  ]) {
    const res = await admin.post('/api/folders/bulk', data);
    expect(res.status()).toBe(400);
    expect(await errorCode(res)).toBe('WRONG_VALUE');
  }
  expect(await daveReads()).toEqual([names[2]]);
  await Promise.all([anon.dispose(), daveRequest.dispose()]);
});
