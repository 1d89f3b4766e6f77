/**
 * Folders, rename, move, duplicate names, multi-select and the trash in the browser (issue #18), against
 * the built app, real relays and real Chromium: what a person does, checked by what they see and by the
 * bytes they get back (SHA-256 of the retrieved file, saved under the name they gave it).
 */
import { join } from 'node:path';
import { test, expect } from '../fixtures.js';
import { chooseSharing, makeFile, opfsSha256, protectThroughUi, ready, retrieveThroughUi, saveToOpfs } from '../helpers.js';

const shots = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');

test('folders: new folder, protect into it, rename, retrieve under the new name, move, keep both, bulk remove, restore, empty trash', async ({ admin }) => {
  test.setTimeout(240_000);
  const { page } = admin;
  await saveToOpfs(page);
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  const folderRow = (name: string) => page.getByTestId('folder-row').filter({ has: page.getByRole('button', { name: `Open folder ${name}`, exact: true }) });
  const fileRow = (name: string) => page.getByTestId('file-row').filter({ has: page.getByText(name, { exact: true }) });

  // A new folder, opened: the breadcrumbs say where we are.
  await page.getByRole('button', { name: 'New folder', exact: true }).click();
  const nameDialog = page.getByTestId('name-dialog');
  await nameDialog.getByLabel('Name').fill('Projects ui');
  await nameDialog.getByRole('button', { name: 'Create', exact: true }).click();
  await expect(folderRow('Projects ui')).toHaveCount(1);
  // The same name again: refused in words, nothing made.
  await page.getByRole('button', { name: 'New folder', exact: true }).click();
  await nameDialog.getByLabel('Name').fill('Projects ui');
  await nameDialog.getByRole('button', { name: 'Create', exact: true }).click();
  await expect(nameDialog.getByRole('alert')).toContainText('already in use');
  await nameDialog.getByRole('button', { name: 'Cancel', exact: true }).click();
  await page.getByRole('button', { name: 'Open folder Projects ui', exact: true }).click();
  const crumbs = page.getByRole('navigation', { name: 'Folder path' });
  await expect(crumbs.getByRole('button', { name: 'Projects ui', exact: true })).toHaveAttribute('aria-current', 'page');

  // Protect into the folder shown, then rename: retrieval saves under the new name, bytes unchanged.
  const file = makeFile('folder-draft.bin', 200_000);
  await protectThroughUi(page, file, 'folder-draft.bin');
  await page.getByRole('button', { name: 'Rename folder-draft.bin', exact: true }).click();
  await nameDialog.getByLabel('Name').fill('folder-final.bin');
  await nameDialog.getByRole('button', { name: 'Rename', exact: true }).click();
  await expect(fileRow('folder-final.bin')).toHaveCount(1);
  await retrieveThroughUi(page, 'folder-final.bin');
  await expect(page.getByTestId('transfer').filter({ hasText: 'Retrieving folder-final.bin' }).first()).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, 'folder-final.bin')).toBe(file.sha256);

  // The same file again with "Keep both" (the default): it is kept as "name (2)".
  const again = makeFile('folder-final.bin', 1000);
  await page.getByTestId('file-input').setInputFiles(again.path);
  await expect(fileRow('folder-final (2).bin')).toHaveCount(1, { timeout: 60_000 });

  await page.setViewportSize({ width: 1280, height: 900 });
  await page.locator('#files').screenshot({ path: join(shots, 'folders-1280.png') });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator('#files').screenshot({ path: join(shots, 'folders-390.png') });
  await page.setViewportSize({ width: 1280, height: 900 });

  // Move one file to the root through the dialog.
  await page.getByRole('button', { name: 'Move folder-final (2).bin', exact: true }).click();
  const moveDialog = page.getByTestId('move-dialog');
  await expect(moveDialog.getByRole('button', { name: 'Open folder Projects ui', exact: true })).toBeVisible();
  await moveDialog.getByRole('button', { name: 'Move here', exact: true }).click();
  await expect(fileRow('folder-final (2).bin')).toHaveCount(0);
  await crumbs.getByRole('button', { name: 'Your files', exact: true }).click();
  await expect(fileRow('folder-final (2).bin')).toHaveCount(1);

  // Multi-select: the moved file and the folder, removed together; both in the trash.
  await page.getByRole('checkbox', { name: 'Select folder-final (2).bin', exact: true }).check();
  await page.getByRole('checkbox', { name: 'Select folder Projects ui', exact: true }).check();
  const bulk = page.getByTestId('bulk-bar');
  await expect(bulk).toContainText('2 selected');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator('#files').screenshot({ path: join(shots, 'folders-select-390.png') });
  await page.setViewportSize({ width: 1280, height: 900 });
  await bulk.getByRole('button', { name: 'Remove', exact: true }).click();
  await expect(folderRow('Projects ui')).toHaveCount(0);
  await expect(fileRow('folder-final (2).bin')).toHaveCount(0);
  const trashRow = (name: string) => page.getByTestId('trash-row').filter({ hasText: name });
  await expect(trashRow('Projects ui')).toHaveCount(1);
  await expect(trashRow('folder-final (2).bin')).toHaveCount(1);
  await page.locator('#trash').screenshot({ path: join(shots, 'trash-1280.png') });

  // Restore the folder: it comes back with its file; the other item goes when the trash is emptied.
  await page.getByRole('button', { name: 'Restore Projects ui', exact: true }).click();
  await expect(folderRow('Projects ui')).toHaveCount(1);
  await page.getByRole('button', { name: 'Open folder Projects ui', exact: true }).click();
  await expect(fileRow('folder-final.bin')).toHaveCount(1);
  await page.getByRole('button', { name: 'Empty trash', exact: true }).click();
  await page.getByTestId('confirm-empty-trash').getByRole('button', { name: 'Empty trash', exact: true }).click();
  await expect(trashRow('folder-final (2).bin')).toHaveCount(0);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await ready(page);
  await page.locator('#trash').screenshot({ path: join(shots, 'trash-390.png') });
});
