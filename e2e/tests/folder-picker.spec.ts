/**
 * "Choose a folder…" (issue #18): where the browser has `showDirectoryPicker()` (File System Access API), the
 * picked directory is walked file by file (DropZone.svelte, engine/dropped.ts `fromDirectoryHandle`), with
 * its empty folders; where it has none, the `webkitdirectory` input is used. Playwright cannot drive the
 * native directory dialog, so the picker is replaced by one that answers a directory of the page's own
 * origin private file system (a real FileSystemDirectoryHandle, walked by the same code), as saveToOpfs
 * replaces the save dialog. The walk, the tree made on the coordinator and the bytes are real.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { test, expect } from '../fixtures.js';
import { chooseSharing, opfsSha256, ready, retrieveThroughUi, saveToOpfs } from '../helpers.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
interface FolderListing {
  folders: Array<{ id: string; name: string }>;
  files: Array<{ name: string }>;
}

/** Writes `files` (path below `top` -> bytes) and the empty folders `empty` into the page's OPFS under `top`. */
async function opfsTree(page: Page, top: string, files: Record<string, Buffer>, empty: string[]): Promise<void> {
  await page.evaluate(
    async ({ top, files, empty }) => {
      const root = await (await navigator.storage.getDirectory()).getDirectoryHandle(top, { create: true });
      const dirOf = async (parts: string[]) => {
        let d = root;
        for (const p of parts) d = await d.getDirectoryHandle(p, { create: true });
        return d;
      };
      for (const [rel, bytes] of Object.entries(files)) {
        const parts = rel.split('/');
        const dir = await dirOf(parts.slice(0, -1));
        const w = await (await dir.getFileHandle(parts.at(-1)!, { create: true })).createWritable();
        await w.write(new Uint8Array(bytes));
        await w.close();
      }
      for (const e of empty) await dirOf(e.split('/'));
    },
    { top, files: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, [...v]])), empty }
  );
}

test('a directory chosen with the directory picker is protected with its structure, empty folders included', async ({ admin }) => {
  test.setTimeout(180_000);
  const { page } = admin;
  const tag = randomBytes(3).toString('hex');
  const top = `picked-${tag}`;
  const files: Record<string, Buffer> = {
    [`top-${tag}.txt`]: randomBytes(1200),
    [`a/inner-${tag}.bin`]: randomBytes(90_000),
    [`a/b/deep-${tag}.bin`]: randomBytes(2500)
  };
  await saveToOpfs(page);
  await page.addInitScript((top) => {
    (window as unknown as { showDirectoryPicker: unknown }).showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle(top);
  }, top);
  await page.goto('/');
  await opfsTree(page, top, files, ['empty']);
  await chooseSharing(page, 2, 3);
  await ready(page);
  await page.getByTestId('choose-folder').click();

  const group = page.getByTestId('transfer-group').filter({ hasText: `Protecting the folder ${top}` });
  await expect(group).toHaveAttribute('data-status', /done|error/, { timeout: 120_000 });
  await expect(group, await group.innerText()).toHaveAttribute('data-status', 'done');
  await expect(group).toContainText('3 of 3 files');

  const list = async (parent?: string) => (await (await admin.get(`/api/folders${parent ? `?parent=${parent}` : '?limit=500'}`)).json()) as FolderListing;
  const topFolder = (await list()).folders.find((f) => f.name === top);
  expect(topFolder, `folder ${top} at the root`).toBeDefined();
  const inTop = await list(topFolder!.id);
  expect(inTop.folders.map((f) => f.name).sort()).toEqual(['a', 'empty']);
  expect(inTop.files.map((f) => f.name)).toEqual([`top-${tag}.txt`]);
  const a = await list(inTop.folders.find((f) => f.name === 'a')!.id);
  expect(a.folders.map((f) => f.name)).toEqual(['b']);
  expect(a.files.map((f) => f.name)).toEqual([`inner-${tag}.bin`]);
  const empty = await list(inTop.folders.find((f) => f.name === 'empty')!.id);
  expect(empty.folders.length + empty.files.length).toBe(0);

  await page.getByRole('button', { name: `Open folder ${top}`, exact: true }).click();
  await page.getByRole('button', { name: 'Open folder a', exact: true }).click();
  await retrieveThroughUi(page, `inner-${tag}.bin`);
  expect(await opfsSha256(page, `inner-${tag}.bin`)).toBe(sha256(files[`a/inner-${tag}.bin`]!));
});

test('closing the directory picker does nothing; without one, the folder input is opened', async ({ admin }) => {
  test.setTimeout(120_000);
  const { page } = admin;
  await page.addInitScript(() => {
    const w = window as unknown as { showDirectoryPicker?: unknown; kofnPickerCalls: number };
    w.kofnPickerCalls = 0;
    w.showDirectoryPicker = () => {
      w.kofnPickerCalls += 1;
      return Promise.reject(new DOMException('The user aborted a request.', 'AbortError'));
    };
  });
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  await ready(page);
  // Closed picker: asked once, no file chooser opened, no transfer, no error.
  let choosers = 0;
  page.on('filechooser', () => (choosers += 1));
  await page.getByTestId('choose-folder').click();
  await expect.poll(() => page.evaluate(() => (window as unknown as { kofnPickerCalls: number }).kofnPickerCalls)).toBe(1);
  await expect(page.getByTestId('transfer-group')).toHaveCount(0);
  await expect(page.getByTestId('toasts')).toHaveText('');
  expect(choosers).toBe(0);

  // A browser without the directory picker (Firefox, Safari): the button opens the folder input.
  await page.evaluate(() => delete (window as unknown as { showDirectoryPicker?: unknown }).showDirectoryPicker);
  const tag = randomBytes(3).toString('hex');
  const top = `input-${tag}`;
  const root = join(mkdtempSync(join(tmpdir(), 'kofn-e2e-pick-')), top);
  mkdirSync(root);
  writeFileSync(join(root, `only-${tag}.bin`), randomBytes(3000));
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.getByTestId('choose-folder').click()]);
  expect(chooser.isMultiple()).toBe(true);
  await chooser.setFiles(root);
  const group = page.getByTestId('transfer-group').filter({ hasText: `Protecting the folder ${top}` });
  await expect(group).toHaveAttribute('data-status', /done|error/, { timeout: 60_000 });
  await expect(group, await group.innerText()).toHaveAttribute('data-status', 'done');
  await expect(group).toContainText('1 of 1 files');
});
