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
