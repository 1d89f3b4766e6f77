/**
 * A real directory dropped on the page (issue #18), against the built app and real relays. A DataTransfer
 * made in the page (or by Playwright's dispatchEvent) holds File objects only: webkitGetAsEntry() answers
 * FileEntry for each, never a DirectoryEntry, so the walk of DropZone.svelte (engine/dropped.ts) could not
 * be driven by one. Chromium's DevTools protocol can: `Input.dispatchDragEvent` with `data.files` naming a
 * path on disk goes through the browser's own drop path, as a drag from the file manager does, and a
 * directory named there reaches the page as a DirectoryEntry of an isolated file system. Checked: the
 * tree (nested folders and an empty one) is made on the coordinator, every file is protected in its
 * folder, and each comes back byte for byte (SHA-256 of the retrieved file).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect } from '../fixtures.js';
import { chooseSharing, opfsSha256, ready, retrieveThroughUi, saveToOpfs } from '../helpers.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** What this test reads of `GET /api/folders`. */
interface FolderListing {
  folders: Array<{ id: string; name: string }>;
  files: Array<{ name: string }>;
}

test('a directory dropped from disk is protected with its structure, empty folders included', async ({ admin }) => {
  test.setTimeout(180_000);
  const { page } = admin;
  const tag = randomBytes(3).toString('hex');
  const top = `dropped-${tag}`;
  const root = join(mkdtempSync(join(tmpdir(), 'kofn-e2e-drop-')), top);
  const files: Record<string, Buffer> = {
    [`top-${tag}.txt`]: randomBytes(1500),
    [`a/inner-${tag}.bin`]: randomBytes(70_000),
    [`a/b/deep-${tag}.bin`]: randomBytes(3000)
  };
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), data);
  }
  mkdirSync(join(root, 'empty'));

  await saveToOpfs(page);
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  await ready(page);
  const zone = page.getByTestId('drop-zone');
  await zone.scrollIntoViewIfNeeded();
  const box = (await zone.boundingBox())!;
  const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  // The browser's own drag and drop, as from the file manager: the directory's path, nothing else.
  const cdp = await page.context().newCDPSession(page);
  const data = { items: [], files: [root], dragOperationsMask: 1 };
  for (const type of ['dragEnter', 'dragOver', 'drop'] as const) await cdp.send('Input.dispatchDragEvent', { type, ...at, data });

  // The dropped folder is one transfer row counting its files (issue #18); each file's row on demand.
  const group = page.getByTestId('transfer-group').filter({ hasText: `Protecting the folder ${top}` });
  await expect(group).toHaveAttribute('data-status', /done|error/, { timeout: 120_000 });
  await expect(group, await group.innerText()).toHaveAttribute('data-status', 'done');
  await expect(group).toContainText('3 of 3 files');
  // One toast for the folder, none per file.
  await expect(page.getByText(`Protected the folder ${top} (3 files).`)).toBeVisible();
  await expect(page.getByText(`Protected top-${tag}.txt.`)).toHaveCount(0);
  await expect(group.getByTestId('transfer')).toHaveCount(0);
  await group.getByRole('button', { name: 'Show files (3)' }).click();
  const transfer = (n: string) =>
    group
      .getByTestId('transfer')
      .filter({ hasText: `Protecting ${n}` })
      .first();
  for (const rel of Object.keys(files)) {
    const n = rel.split('/').pop()!;
    await expect(transfer(n)).toHaveAttribute('data-status', /done|error/, { timeout: 120_000 });
    await expect(transfer(n), await transfer(n).innerText()).toHaveAttribute('data-status', 'done');
  }

  // The structure on the coordinator: the dropped folder, a/ with b/ inside, and empty/ (no files).
  const list = async (parent?: string) => (await (await admin.get(`/api/folders${parent ? `?parent=${parent}` : '?limit=500'}`)).json()) as FolderListing;
  const topFolder = (await list()).folders.find((f) => f.name === top);
  expect(topFolder, `folder ${top} at the root`).toBeDefined();
  const inTop = await list(topFolder!.id);
  expect(inTop.folders.map((f) => f.name).sort()).toEqual(['a', 'empty']);
  expect(inTop.files.map((f) => f.name)).toEqual([`top-${tag}.txt`]);
  const a = await list(inTop.folders.find((f) => f.name === 'a')!.id);
  expect(a.folders.map((f) => f.name)).toEqual(['b']);
  expect(a.files.map((f) => f.name)).toEqual([`inner-${tag}.bin`]);
  const b = await list(a.folders[0]!.id);
  expect(b.files.map((f) => f.name)).toEqual([`deep-${tag}.bin`]);
  const empty = await list(inTop.folders.find((f) => f.name === 'empty')!.id);
  expect(empty.folders.length + empty.files.length).toBe(0);

  // Byte for byte: the deepest file retrieved from its folder.
  await page.getByRole('button', { name: `Open folder ${top}`, exact: true }).click();
  await page.getByRole('button', { name: 'Open folder a', exact: true }).click();
  await page.getByRole('button', { name: 'Open folder b', exact: true }).click();
  await retrieveThroughUi(page, `deep-${tag}.bin`);
  expect(await opfsSha256(page, `deep-${tag}.bin`)).toBe(sha256(files[`a/b/deep-${tag}.bin`]!));
});

test('a folder’s one Cancel stops its running files and keeps the rest from starting; what finished stays', async ({ admin }) => {
  test.setTimeout(180_000);
  const { page } = admin;
  const tag = randomBytes(3).toString('hex');
  const top = `cancelled-${tag}`;
  const root = join(mkdtempSync(join(tmpdir(), 'kofn-e2e-cancel-')), top);
  mkdirSync(root);
  // Enough files that the folder is still running when Cancel is pressed (8 go at once).
  const count = 120;
  for (let i = 0; i < count; i++) writeFileSync(join(root, `f-${String(i).padStart(3, '0')}.bin`), randomBytes(4096));

  await page.goto('/');
  await chooseSharing(page, 2, 3);
  await ready(page);
  await page.getByTestId('folder-input').setInputFiles(root);
  const group = page.getByTestId('transfer-group').filter({ hasText: `Protecting the folder ${top}` });
  await expect(group).toHaveAttribute('data-status', 'running');
  await group.getByRole('button', { name: 'Cancel' }).click();
  await expect(group).toHaveAttribute('data-status', /cancelled|error|done/, { timeout: 60_000 });
  const n = async (what: string) => Number(await group.getAttribute(`data-${what}`));
  const [done, failed, cancelled] = [await n('done'), await n('failed'), await n('cancelled')];
  expect(failed, await group.innerText()).toBe(0);
  expect(done).toBeLessThan(count);
  expect(cancelled).toBeGreaterThan(0);
  // Files after the cancel never started: far fewer rows than files (at most the ones running at the time).
  expect(done + cancelled).toBeLessThan(count);
  await expect(group).toHaveAttribute('data-status', 'cancelled');
  await expect(group).toContainText(`${done} of ${count} files`);
  await expect(group).toContainText(`${count - done - cancelled} not started`);
  await expect(page.getByText(`Cancelled the folder ${top}: ${done} of ${count} files protected.`)).toBeVisible();
  // What finished is protected and listed; of the files cancelled while running, only one whose commit was
  // already on its way can have landed too (the cancel came too late for it); none of those never started.
  const listing = (await (await admin.get('/api/folders?limit=500')).json()) as FolderListing;
  const folder = listing.folders.find((f) => f.name === top);
  expect(folder).toBeDefined();
  const inside = (await (await admin.get(`/api/folders?parent=${folder!.id}&limit=500`)).json()) as FolderListing;
  expect(inside.files.length).toBeGreaterThanOrEqual(done);
  expect(inside.files.length).toBeLessThanOrEqual(done + cancelled);
});
