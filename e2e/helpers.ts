/** Helpers for browser tests: files on disk to drop, the dashboard's protect settings, saving through OPFS. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Browser, type Locator, type Page } from '@playwright/test';
import { ADMIN } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'kofn-e2e-files-'));

/** A file name for this try of the test: a retry on the shared stack would otherwise meet the first try's file. */
export function attemptName(prefix: string): string {
  return `${prefix}-${test.info().repeatEachIndex}-${test.info().retry}.bin`;
}

/**
 * Chooses `path` in the drop zone's picker and waits until its upload is past `percent` (polled as `poll`
 * says, 60 s at most by default); answers its transfer rows.
 */
export async function uploadPast(page: Page, path: string, name: string, percent: number, poll: { timeout: number; intervals?: number[] } = { timeout: 60_000 }): Promise<Locator> {
  await page.getByTestId('file-input').setInputFiles(path);
  const rows = page.getByTestId('transfer').filter({ hasText: `Protecting ${name}` });
  await expect.poll(async () => Number((await rows.first().locator('progress').getAttribute('value')) ?? 0), poll).toBeGreaterThan(percent);
  return rows;
}

export function makeFile(name: string, size: number): { path: string; sha256: string } {
  const data = randomBytes(size);
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, sha256: createHash('sha256').update(data).digest('hex') };
}

/** Waits until the page is hydrated (its controls answer), set by the root layout on mount. */
export async function ready(page: Page): Promise<void> {
  await page.locator('html[data-hydrated]').waitFor({ state: 'attached' });
}

/** Chooses the first n storage servers (by name) and threshold k in the protect settings. */
export async function chooseSharing(page: Page, k: number, n: number): Promise<void> {
  await ready(page);
  const boxes = page.locator('.relay-choice input[type=checkbox]');
  const count = await boxes.count();
  for (let i = 0; i < count; i++) await boxes.nth(i).setChecked(i < n);
  await page.getByTestId('threshold').fill(String(k));
}

/** Protects a file by choosing it in the drop zone's picker; waits until it is listed as available. */
export async function protectThroughUi(page: Page, file: { path: string }, name: string): Promise<void> {
  await ready(page);
  await page.getByTestId('file-input').setInputFiles(file.path);
  const transfer = page.getByTestId('transfer').filter({ hasText: name }).first();
  await expect(transfer).toHaveAttribute('data-status', /done|error/, { timeout: 120_000 });
  await expect(transfer, await transfer.innerText()).toHaveAttribute('data-status', 'done');
  // The list refreshes after the commit (throttled, then its request): within a second or two on a quiet machine;
  // the compose check once waited past the default 5 s on a coordinator container slowed by a loaded CI (its
  // health checks then took over 10 s).
  await expect(page.getByTestId('file-row').filter({ has: page.getByText(name, { exact: true }) })).toHaveCount(1, { timeout: 30_000 });
}

/**
 * The save dialog cannot be clicked in headless Chromium, so the picker hands out a real writable file in
 * the origin-private file system instead; everything after the dialog (the real File System Access
 * writable stream, swap file and close) runs as for a user.
 */
export async function saveToOpfs(page: Page): Promise<void> {
  await page.addInitScript(() => {
    (window as unknown as { showSaveFilePicker: unknown }).showSaveFilePicker = async ({ suggestedName }: { suggestedName: string }) => {
      const root = await navigator.storage.getDirectory();
      return root.getFileHandle(suggestedName, { create: true });
    };
  });
}

export async function opfsSha256(page: Page, name: string): Promise<string | null> {
  return page.evaluate(async (n) => {
    const root = await navigator.storage.getDirectory();
    let handle: FileSystemFileHandle;
    try {
      handle = await root.getFileHandle(n);
    } catch {
      return null;
    }
    const buf = await (await handle.getFile()).arrayBuffer();
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
    return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
  }, name);
}

export async function retrieveThroughUi(page: Page, name: string): Promise<void> {
  await ready(page);
  await page
    .getByRole('button', { name: `Retrieve ${name}`, exact: true })
    .first()
    .click();
  const transfer = page
    .getByTestId('transfer')
    .filter({ hasText: `Retrieving ${name}` })
    .first();
  await expect(transfer).toHaveAttribute('data-status', /done|error/, { timeout: 120_000 });
}

/** Opens the account menu in the header (every page) and chooses "Sign out". */
export async function signOutThroughUi(page: Page): Promise<void> {
  await ready(page);
  await page.getByTestId('account-menu').click();
  await page.getByRole('menuitem', { name: 'Sign out' }).click();
}

/**
 * A page in a new browser context on a private stack, after creating its administrator (first-run setup),
 * saving retrieved files through OPFS, on the dashboard.
 */
export async function openAsNewAdmin(browser: Browser, url: string): Promise<Page> {
  const context = await browser.newContext({ baseURL: url });
  const page = await context.newPage();
  const res = await page.request.post('/api/setup', { data: ADMIN, headers: { Origin: url } });
  expect(res.status()).toBe(201);
  await saveToOpfs(page);
  await page.goto('/');
  return page;
}

/** The stable error code of a coordinator answer (`{ error: { code } }`), or undefined if it has none. */
export async function errorCode(res: { json: () => Promise<unknown> }): Promise<string | undefined> {
  return ((await res.json()) as { error?: { code?: string } }).error?.code;
}

/** Makes a link in the file's share dialog; answers its address (shown once). */
export async function linkThroughUi(page: Page, name: string, opts: { limit?: number; password?: string } = {}): Promise<string> {
  await ready(page);
  await page.getByRole('button', { name: `Share ${name}` }).click();
  const dialog = page.getByRole('dialog', { name: `Share “${name}”` });
  if (opts.limit !== undefined) await dialog.getByLabel('Download limit (empty: none)').fill(String(opts.limit));
  if (opts.password !== undefined) await dialog.getByLabel('Password (optional)').fill(opts.password);
  await dialog.getByRole('button', { name: 'Create link' }).click();
  const url = await dialog.getByTestId('new-link').inputValue({ timeout: 30_000 });
  await dialog.getByRole('button', { name: 'Close' }).click();
  return url;
}

/** Makes the page report itself hidden or visible, as switching tabs does, and tells it so. */
export async function setVisibility(page: Page, state: 'hidden' | 'visible'): Promise<void> {
  await page.evaluate((s) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => s });
    document.dispatchEvent(new Event('visibilitychange'));
  }, state);
}
