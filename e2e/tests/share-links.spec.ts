/**
 * Share links (issue #19) in Chromium against the real coordinator and relays: the owner makes a link in
 * the share dialog; a fresh browser context (no account, no cookie) opens it and rebuilds the file byte for
 * byte; download limit (two recipients at once on a limit-1 link: exactly one gets it), wrong password
 * throttled, revocation, expiry, a removed file; and the routes' HTTP edges (CSRF, sign-in, body size).
 */
import type { Browser, Page } from '@playwright/test';
import { linkKey, newLinkSecret, base64url } from '@kofn/shared';
import { test, expect, type Session, type Stack } from '../fixtures.js';
import { chooseSharing, linkThroughUi, makeFile, opfsSha256, protectThroughUi, ready, saveToOpfs } from '../helpers.js';

/** A recipient: a new browser context with no cookies, saving through OPFS (helpers.ts). */
async function recipient(browser: Browser, stack: Stack): Promise<{ page: Page; close: () => Promise<void> }> {
  const context = await browser.newContext({ baseURL: stack.url });
  const page = await context.newPage();
  await saveToOpfs(page);
  return { page, close: () => context.close() };
}

async function download(page: Page, url: string, password?: string): Promise<string> {
  await page.goto(url);
  await ready(page);
  const box = page.getByTestId('link-retrieval');
  if (password !== undefined) await box.getByLabel('Password of the link').fill(password);
  await box.getByRole('button', { name: 'Download' }).click();
  await expect(box).toHaveAttribute('data-status', /done|error/, { timeout: 60_000 });
  return (await box.getAttribute('data-status'))!;
}

const alertOf = (page: Page) => page.getByTestId('link-retrieval').getByRole('alert');

async function fileIdOf(admin: Session, name: string): Promise<string> {
  const { files } = (await (await admin.get('/api/files')).json()) as { files: Array<{ id: string; name: string }> };
  return files.find((f) => f.name === name)!.id;
}

const DAVE = { email: 'dave@kofn.test', displayName: 'Dave', password: 'dave password 1' };

test.describe('share links', () => {
  test('a link opened in a fresh browser rebuilds the file byte for byte; the secret never reaches the server', async ({ admin, browser, stack }) => {
    test.setTimeout(120_000);
    const { page } = admin;
    await page.goto('/');
    await chooseSharing(page, 2, 3);
    const file = makeFile('linked.bin', 700_000);
    await protectThroughUi(page, file, 'linked.bin');
    const url = await linkThroughUi(page, 'linked.bin');
    expect(url).toMatch(new RegExp(`^${stack.url}/s/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}$`));
    const secret = url.split('#')[1]!;

    const r = await recipient(browser, stack);
    const sent: string[] = [];
    r.page.on('request', (req) => sent.push(`${req.url()} ${req.postData() ?? ''} ${JSON.stringify(req.headers())}`));
    expect(await download(r.page, url)).toBe('done');
    expect(await opfsSha256(r.page, 'linked.bin')).toBe(file.sha256);
    // Nothing the recipient's browser sent (to the coordinator or the relays) holds the secret.
    expect(sent.length).toBeGreaterThan(3);
    for (const s of sent) expect(s).not.toContain(secret);
    await r.close();

    // The owner's dialog lists the link with its download; the history has its creation and use.
    await page.getByRole('button', { name: 'Share linked.bin' }).click();
    await expect(page.getByTestId('link-row').first()).toContainText('active: 1 download(s)');
    await page.getByRole('button', { name: 'Close' }).click();
    const history = JSON.stringify(await (await admin.get('/api/history')).json());
    expect(history).toContain('link_create');
    expect(history).toContain('link_use');
  });

  test('a limit-1 link opened by two recipients at once: exactly one gets the file', async ({ admin, browser, stack }) => {
    test.setTimeout(120_000);
    const { page } = admin;
    await page.goto('/');
    await chooseSharing(page, 2, 3);
    const file = makeFile('once.bin', 200_000);
    await protectThroughUi(page, file, 'once.bin');
    const url = await linkThroughUi(page, 'once.bin', { limit: 1 });
    const [a, b] = [await recipient(browser, stack), await recipient(browser, stack)];
    for (const r of [a, b]) {
      await r.page.goto(url);
      await ready(r.page);
    }
    await Promise.all([a, b].map((r) => r.page.getByTestId('link-retrieval').getByRole('button', { name: 'Download' }).click()));
    for (const r of [a, b]) await expect(r.page.getByTestId('link-retrieval')).toHaveAttribute('data-status', /done|error/, { timeout: 60_000 });
    const statuses = await Promise.all([a, b].map((r) => r.page.getByTestId('link-retrieval').getAttribute('data-status')));
    expect([...statuses].sort()).toEqual(['done', 'error']);
    const [winner, loser] = statuses[0] === 'done' ? [a, b] : [b, a];
    expect(await opfsSha256(winner.page, 'once.bin')).toBe(file.sha256);
    await expect(alertOf(loser.page)).toHaveText('This link has reached its download limit.');
    expect(await opfsSha256(loser.page, 'once.bin')).toBeNull();
    await a.close();
    await b.close();
  });

  test('a password: wrong ones are refused, then throttled even for the right one; revocation ends the link', async ({ admin, browser, stack }) => {
    test.setTimeout(180_000);
    const { page } = admin;
    await page.goto('/');
    await chooseSharing(page, 2, 3);
    const file = makeFile('secret-plans.bin', 50_000);
    await protectThroughUi(page, file, 'secret-plans.bin');
    const url = await linkThroughUi(page, 'secret-plans.bin', { password: 'open sesame 42' });
    expect(url).toContain('#p.');

    const r = await recipient(browser, stack);
    expect(await download(r.page, url, 'open sesame 41')).toBe('error');
    await expect(alertOf(r.page)).toHaveText('This link is not valid, or the password is wrong.');
    expect(await download(r.page, url, 'open sesame 42')).toBe('done');
    expect(await opfsSha256(r.page, 'secret-plans.bin')).toBe(file.sha256);
    // The limit is 10 attempts per 15 minutes per link; the right password above reset the count.
    for (let i = 0; i < 10; i++) expect(await download(r.page, url, `guess ${i}`)).toBe('error');
    expect(await download(r.page, url, 'open sesame 42')).toBe('error');
    await expect(alertOf(r.page)).toContainText('Too many attempts on this link; try again in');

    // Revocation: a second link, opened once, revoked by the owner, refused at once.
    const second = await linkThroughUi(page, 'secret-plans.bin');
    await r.page.evaluate(async () => (await navigator.storage.getDirectory()).removeEntry('secret-plans.bin'));
    expect(await download(r.page, second)).toBe('done');
    await page.getByRole('button', { name: 'Share secret-plans.bin' }).click();
    const row = page.getByTestId('link-row').filter({ hasText: 'active: 1 download(s)' }).first();
    await row.getByRole('button', { name: 'Revoke' }).click();
    await expect(page.getByTestId('link-row').filter({ hasText: 'revoked' })).toHaveCount(1);
    await page.getByRole('button', { name: 'Close' }).click();
    await r.page.evaluate(async () => (await navigator.storage.getDirectory()).removeEntry('secret-plans.bin'));
    expect(await download(r.page, second)).toBe('error');
    await expect(alertOf(r.page)).toHaveText('The owner revoked this link.');
    expect(await opfsSha256(r.page, 'secret-plans.bin')).toBeNull();
    await r.close();
  });

  test('expiry, and a link to a file removed later', async ({ admin, browser, stack }) => {
    test.setTimeout(180_000);
    const { page } = admin;
    await page.goto('/');
    await chooseSharing(page, 2, 3);
    const file = makeFile('short-lived.bin', 20_000);
    await protectThroughUi(page, file, 'short-lived.bin');
    const fileId = await fileIdOf(admin, 'short-lived.bin');
    // The shortest expiry the coordinator accepts is a minute; the link is made through the API with it.
    const secret = newLinkSecret();
    const key = await linkKey(secret);
    const expiresAt = Date.now() + 65_000;
    const res = await admin.post('/api/links', { fileId, publicKey: key.publicKey, passwordProtected: false, expiresAt: new Date(expiresAt).toISOString() });
    expect(res.status()).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const url = `${stack.url}/s/${id}#${base64url(secret)}`;
    const r = await recipient(browser, stack);
    expect(await download(r.page, url)).toBe('done');
    expect(await opfsSha256(r.page, 'short-lived.bin')).toBe(file.sha256);
    await r.page.waitForTimeout(Math.max(0, expiresAt + 1000 - Date.now()));
    await r.page.evaluate(async () => (await navigator.storage.getDirectory()).removeEntry('short-lived.bin'));
    expect(await download(r.page, url)).toBe('error');
    await expect(alertOf(r.page)).toHaveText('This link has expired.');

    // A link whose file was removed afterwards.
    const later = await linkThroughUi(page, 'short-lived.bin');
    expect((await admin.del(`/api/files/${fileId}`)).ok()).toBe(true);
    expect(await download(r.page, later)).toBe('error');
    await expect(alertOf(r.page)).toHaveText('The file of this link was removed.');
    // A link without its fragment says so instead of asking anything.
    await r.page.goto(later.split('#')[0]!);
    await expect(alertOf(r.page)).toContainText('This link is incomplete');
    await r.close();
  });

  test('routes: sign-in for owners, CSRF, body size, uniform answers for unknown ids', async ({ admin, playwright, stack }) => {
    const anon = await playwright.request.newContext({ baseURL: stack.url });
    expect((await anon.get('/api/links')).status()).toBe(401);
    expect((await anon.post('/api/links', { data: {}, headers: { Origin: stack.url } })).status()).toBe(401);
    // No Origin: refused before anything else (CSRF), on the link routes as everywhere.
    expect((await anon.post(`/api/links/${'A'.repeat(22)}/open`, { data: {} })).status()).toBe(403);
    const big = { at: Date.now(), signature: 'A'.repeat(86), pad: 'x'.repeat(70_000) };
    const over = await anon.post(`/api/links/${'A'.repeat(22)}/open`, { data: big, headers: { Origin: stack.url } });
    expect(over.status()).toBe(413);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    // Unknown and malformed ids answer exactly alike.
    const proof = { at: Date.now(), nonce: 'A'.repeat(22), signature: 'A'.repeat(86) };
    const answers = await Promise.all(
      [randomId(), 'short', `${'A'.repeat(21)}~`].map(async (id) => {
        const res = await anon.post(`/api/links/${id}/open`, { data: proof, headers: { Origin: stack.url } });
        return `${res.status()} ${await res.text()}`;
      })
    );
    expect(answers[0]).toMatch(/^404 .*LINK_INVALID/);
    expect(answers, answers.join('\n')).toEqual([answers[0], answers[0], answers[0]]);
    // Another user can neither list, edit nor revoke the admin's links: not found, as for unknown ids.
    const { links } = (await (await admin.get('/api/links')).json()) as { links: Array<{ id: string }> };
    expect(links.length).toBeGreaterThan(0);
    expect([201, 409]).toContain((await admin.post('/api/users', DAVE)).status());
    const login = await anon.post('/api/login', { data: { email: DAVE.email, password: DAVE.password }, headers: { Origin: stack.url } });
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const headers = { Origin: stack.url, 'X-CSRF-Token': csrfToken };
    expect(((await (await anon.get('/api/links')).json()) as { links: unknown[] }).links).toEqual([]);
    const edit = await anon.patch(`/api/links/${links[0]!.id}`, { data: { maxDownloads: 100 }, headers });
    const unknown = await anon.patch(`/api/links/${randomId()}`, { data: { maxDownloads: 100 }, headers });
    expect(edit.status()).toBe(404);
    expect(await edit.text()).toBe(await unknown.text());
    expect((await anon.delete(`/api/links/${links[0]!.id}`, { headers })).status()).toBe(404);
    // A cookie session must echo its CSRF token.
    expect((await anon.delete(`/api/links/${links[0]!.id}`, { headers: { Origin: stack.url } })).status()).toBe(403);
    await anon.dispose();
  });
});

function randomId(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(16)));
}
