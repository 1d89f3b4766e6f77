/**
 * Folders in and out of the browser (issue #18), against the built app, real relays and real Chromium: a
 * folder chosen with the folder picker is protected with its structure; the duplicate-name choice (keep
 * both, skip, replace) applies to the whole dropped folder; a folder and a selection are retrieved as one
 * ZIP built in the browser, read back here and checked entry by entry by SHA-256; and a tampered share
 * fails the ZIP with the error, leaving no file at all.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { test, expect, type Session } from '../fixtures.js';
import { chooseSharing, errorCode, opfsSha256, ready, saveToOpfs } from '../helpers.js';
import { readZip } from '../zip-reader.js';

test.describe.configure({ timeout: 240_000 });

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A directory tree on disk: relative path -> size. Answers its path and each file's SHA-256 by relative path. */
function makeTree(name: string, files: Record<string, number>): { path: string; sums: Record<string, string> } {
  const root = join(mkdtempSync(join(tmpdir(), 'kofn-e2e-tree-')), name);
  const sums: Record<string, string> = {};
  for (const [rel, size] of Object.entries(files)) {
    const data = randomBytes(size);
    const at = join(root, rel);
    mkdirSync(join(at, '..'), { recursive: true });
    writeFileSync(at, data);
    sums[rel] = sha256(data);
  }
  return { path: root, sums };
}

/** The bytes of a file saved in the origin-private file system (where saveToOpfs puts retrieved files). */
async function opfsBytes(page: Page, name: string): Promise<Buffer> {
  const b64 = await page.evaluate(async (n) => {
    const file = await (await (await navigator.storage.getDirectory()).getFileHandle(n)).getFile();
    const bytes = new Uint8Array(await file.arrayBuffer());
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  }, name);
  return Buffer.from(b64, 'base64');
}

const folderRow = (page: Page, name: string) => page.getByTestId('folder-row').filter({ has: page.getByRole('button', { name: `Open folder ${name}`, exact: true }) });
const transferOf = (page: Page, what: 'Protecting' | 'Retrieving', name: string) =>
  page
    .getByTestId('transfer')
    .filter({ hasText: `${what} ${name}` })
    .first();

/**
 * Chooses a directory with the folder picker and waits until its folder's one transfer row (issue #18) has
 * protected all `count` files.
 */
async function pickFolder(page: Page, dir: string, folder: string, count: number): Promise<void> {
  await page.getByTestId('folder-input').setInputFiles(dir);
  const group = page
    .getByTestId('transfer-group')
    .filter({ hasText: `Protecting the folder ${folder}` })
    .first();
  await expect(group).toHaveAttribute('data-status', /done|error|cancelled/, { timeout: 120_000 });
  await expect(group, await group.innerText()).toHaveAttribute('data-status', 'done');
  await expect(group).toHaveAttribute('data-done', String(count));
}

/** Files protected so far by every folder's transfer row. */
const protectedCount = (page: Page) => page.locator('[data-testid=transfer-group]').evaluateAll((rows) => rows.reduce((sum, r) => sum + Number(r.getAttribute('data-done') ?? 0), 0));

async function retrieveZip(page: Page, open: () => Promise<void>, zipName: string): Promise<string> {
  await open();
  const t = transferOf(page, 'Retrieving', zipName);
  await expect(t).toHaveAttribute('data-status', /done|error/, { timeout: 120_000 });
  return (await t.getAttribute('data-status')) ?? '';
}

/**
 * A new folder of this test's own, opened: the shared stack's root holds other specs' files and folders,
 * so everything here happens inside it (and a rerun on the same stack starts afresh).
 */
async function openOwnFolder(admin: Session, prefix: string): Promise<{ id: string; name: string }> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  const res = await admin.post('/api/folders', { name });
  expect(res.status()).toBe(201);
  const { id } = (await res.json()) as { id: string };
  await admin.page.reload();
  await ready(admin.page);
  await admin.page.getByRole('button', { name: `Open folder ${name}`, exact: true }).click();
  await expect(admin.page.getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name, exact: true })).toHaveAttribute('aria-current', 'page');
  return { id, name };
}

/** The folder's id, by name, in the folder `parent` (the root without it); undefined if there is none. */
async function findFolder(page: Page, name: string, parent?: string): Promise<string | undefined> {
  const res = await page.request.get(`/api/folders?limit=500${parent ? `&parent=${parent}` : ''}`);
  const { folders } = (await res.json()) as { folders: Array<{ id: string; name: string }> };
  return folders.find((f) => f.name === name)?.id;
}

async function folderId(page: Page, name: string, parent?: string): Promise<string> {
  const id = await findFolder(page, name, parent);
  expect(id, `folder ${name}`).toBeDefined();
  return id!;
}

test('a picked folder is protected with its structure, retrieved as one ZIP entry-for-entry identical; duplicates keep both, skip, replace; a selection is one ZIP', async ({ admin }) => {
  const { page } = admin;
  await saveToOpfs(page);
  await page.goto('/');
  const own = await openOwnFolder(admin, 'zip-own');
  await chooseSharing(page, 2, 3);
  const tree = makeTree('zip-album', { 'a-note.txt': 1_000, 'b-small.bin': 20_000, 'sub/c-large.bin': 3 * 1024 * 1024 + 7, 'sub/deeper/d.bin': 5_000 });

  // The folder picker: every file protected, inside folders named as on disk.
  await pickFolder(page, tree.path, 'zip-album', 4);
  await expect(folderRow(page, 'zip-album')).toHaveCount(1);
  const album = await folderId(page, 'zip-album', own.id);
  const sub = await folderId(page, 'sub', album);
  expect(await folderId(page, 'deeper', sub)).toMatch(/^[0-9a-f]{32}$/);

  // The folder as one ZIP: folder entries and every file, byte-identical.
  expect(await retrieveZip(page, () => page.getByRole('button', { name: 'Retrieve folder zip-album as ZIP', exact: true }).click(), 'zip-album.zip')).toBe('done');
  const entries = readZip(await opfsBytes(page, 'zip-album.zip'));
  expect(entries.filter((e) => e.folder).map((e) => e.name)).toEqual(['zip-album/', 'zip-album/sub/', 'zip-album/sub/deeper/']);
  const files = Object.fromEntries(entries.filter((e) => !e.folder).map((e) => [e.name, sha256(e.data)]));
  expect(files).toEqual(Object.fromEntries(Object.entries(tree.sums).map(([rel, sum]) => [`zip-album/${rel}`, sum])));

  // The same folder again, "Keep both" (the default): a second folder "zip-album (2)".
  const choice = page.getByLabel("When a protected file's name is taken in this folder");
  await page.getByTestId('folder-input').setInputFiles(tree.path);
  await expect.poll(() => protectedCount(page), { timeout: 120_000 }).toBe(8);
  await expect(folderRow(page, 'zip-album (2)')).toHaveCount(1);
  const protectedBefore = await page.getByTestId('transfer-group').count();

  // "Skip": the whole folder is left out, nothing protected.
  await choice.selectOption('skip');
  await page.getByTestId('folder-input').setInputFiles(tree.path);
  await expect(page.getByText('Skipped the folder zip-album: that name is taken here.')).toBeVisible();
  await expect(page.getByTestId('transfer-group')).toHaveCount(protectedBefore);
  await expect(page.getByTestId('folder-row')).toHaveCount(2);

  // "Replace": the new folder takes the name once every file is in; the old one is in the trash.
  await choice.selectOption('replace');
  const oldAlbum = album;
  await page.getByTestId('folder-input').setInputFiles(tree.path);
  await expect.poll(() => protectedCount(page), { timeout: 120_000 }).toBe(12);
  // The old folder goes to the trash, then the new one takes its name: poll until both happened.
  await expect
    .poll(async () => [(await findFolder(page, 'zip-album', own.id)) ?? 'none', (await findFolder(page, 'zip-album (3)', own.id)) ?? 'none'].map((id) => id === 'none' || id === oldAlbum))
    .toEqual([false, true]);
  await expect(page.getByTestId('folder-row')).toHaveCount(2);
  await expect(folderRow(page, 'zip-album (2)')).toHaveCount(1);
  await expect(page.getByTestId('trash-row').filter({ hasText: 'zip-album' })).toHaveCount(1);
  await choice.selectOption('keepBoth');

  // The route behind "keep both" for folders: a wrong choice is a 400 with a code, and nothing is made.
  for (const onConflict of ['replace', 7, null]) {
    const res = await admin.post('/api/folders', { name: 'zip-album', parentId: own.id, onConflict });
    expect([res.status(), await errorCode(res)]).toEqual([400, 'WRONG_VALUE']);
  }
  const again = await admin.post('/api/folders', { name: 'zip-album', parentId: own.id, onConflict: 'keepBoth' });
  expect([again.status(), ((await again.json()) as { name: string }).name]).toEqual([201, 'zip-album (3)']);

  // A selection (a folder and a file in the root) as one ZIP.
  const loose = randomBytes(12_345);
  const loosePath = join(mkdtempSync(join(tmpdir(), 'kofn-e2e-loose-')), 'zip-loose.bin');
  writeFileSync(loosePath, loose);
  await page.getByTestId('file-input').setInputFiles(loosePath);
  await expect(transferOf(page, 'Protecting', 'zip-loose.bin')).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  await page.getByRole('checkbox', { name: 'Select folder zip-album (2)', exact: true }).check();
  await page.getByRole('checkbox', { name: 'Select zip-loose.bin', exact: true }).check();
  const bulk = page.getByTestId('bulk-bar');
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(bulk.getByRole('button', { name: 'Retrieve as ZIP', exact: true })).toBeVisible();
  await page.setViewportSize({ width: 1280, height: 900 });
  expect(await retrieveZip(page, () => bulk.getByRole('button', { name: 'Retrieve as ZIP', exact: true }).click(), `${own.name} (2 items).zip`)).toBe('done');
  const selection = readZip(await opfsBytes(page, `${own.name} (2 items).zip`));
  const got = Object.fromEntries(selection.filter((e) => !e.folder).map((e) => [e.name, sha256(e.data)]));
  expect(got).toEqual({ ...Object.fromEntries(Object.entries(tree.sums).map(([rel, sum]) => [`zip-album (2)/${rel}`, sum])), 'zip-loose.bin': sha256(loose) });
});

/** Every stored share chunk of file `id` whose name starts with `prefix`, under every relay of the shared stack. */
function chunkFiles(id: string, prefix: string): string[] {
  const root = process.env.KOFN_E2E_DATA_DIR!;
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    for (const name of readdirSync(dir)) {
      const at = join(dir, name);
      if (!statSync(at).isDirectory()) continue;
      if (name === id && dir.endsWith(join('chunks', id.slice(0, 2))))
        out.push(
          ...readdirSync(at)
            .filter((n) => n.startsWith(prefix))
            .map((n) => join(at, n))
        );
      else if (depth < 4) walk(at, depth + 1);
    }
  };
  walk(root, 0);
  return out;
}

test('a tampered share fails the ZIP with the error naming the file, and no ZIP is saved', async ({ admin }) => {
  const { page } = admin;
  await saveToOpfs(page);
  await page.goto('/');
  // k = n: no spare share to route around the tampered one.
  const own = await openOwnFolder(admin, 'zip-own');
  await chooseSharing(page, 2, 2);
  const tree = makeTree('zip-tamper', { 'a-first.bin': 30_000, 'b-tampered.bin': 3 * 1024 * 1024 + 11 });
  await pickFolder(page, tree.path, 'zip-tamper', 2);
  const folder = await folderId(page, 'zip-tamper', own.id);
  const { files } = (await (await page.request.get(`/api/folders?parent=${folder}`)).json()) as { files: Array<{ id: string; name: string }> };
  const victim = files.find((f) => f.name === 'b-tampered.bin')!.id;
  // Chunk 2 of 4: the first file and the victim's first chunk are already in the zip when it fails.
  const chunks = chunkFiles(victim, '2.');
  expect(chunks).toHaveLength(2);
  const bytes = readFileSync(chunks[0]!);
  bytes[bytes.length - 100]! ^= 0x40;
  writeFileSync(chunks[0]!, bytes);

  expect(await retrieveZip(page, () => page.getByRole('button', { name: 'Retrieve folder zip-tamper as ZIP', exact: true }).click(), 'zip-tamper.zip')).toBe('error');
  await expect(transferOf(page, 'Retrieving', 'zip-tamper.zip').getByRole('alert')).toHaveText(
    'zip-tamper/b-tampered.bin: The data returned by the storage servers failed its integrity check; no part of the file was saved. The ZIP was not saved.'
  );
  // The save picker's file is gone: no partial zip, so no plaintext of the tampered file either.
  expect(await opfsSha256(page, 'zip-tamper.zip')).toBeNull();
  // The history names the failed file's retrieval, after the first file had gone into the zip whole: the
  // zip failed part way, and still nothing of it was kept.
  await expect(page.getByTestId('history-row').filter({ hasText: 'b-tampered.bin' }).filter({ hasText: 'error' }).first()).toBeVisible();
  await expect(page.getByTestId('history-row').filter({ hasText: 'a-first.bin' }).filter({ hasText: 'retrieve' }).filter({ hasText: 'ok' }).first()).toBeVisible();
});
