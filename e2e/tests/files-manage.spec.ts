/**
 * Managing files in the browser (issue #18), against the built app, real relays and real Chromium:
 * dragging file rows onto a folder and onto a breadcrumb, sharing a selection with one person (one result
 * per file), searching all folders by name on the server, and previews of images, text and PDF retrieved
 * and authenticated in memory (the bytes shown are the bytes protected), with the blob URL revoked on close
 * (audio, video and the administrator's size limit: previews-media.spec.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { test, expect } from '../fixtures.js';
import { chooseSharing, ready } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kofn-e2e-manage-'));
const shots = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** A file of these bytes on disk, to choose in the drop zone's picker. */
function fileOf(name: string, data: Uint8Array): { path: string; sha256: string } {
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, sha256: sha256(data) };
}

/** Protects files through the picker and waits until each is listed. */
async function protect(page: Page, files: Array<{ path: string }>, names: string[]): Promise<void> {
  await ready(page);
  await page.getByTestId('file-input').setInputFiles(files.map((f) => f.path));
  for (const name of names) {
    await expect(page.getByTestId('file-row').filter({ has: page.getByText(name, { exact: true }) })).toHaveCount(1, { timeout: 120_000 });
  }
}

const fileRow = (page: Page, name: string) => page.getByTestId('file-row').filter({ has: page.getByText(name, { exact: true }) });
const folderRow = (page: Page, name: string) => page.getByTestId('folder-row').filter({ has: page.getByRole('button', { name: `Open folder ${name}`, exact: true }) });

test('drag file rows onto a folder and a breadcrumb; share a selection with one result per file; search all folders', async ({ admin }) => {
  test.setTimeout(120_000);
  const { page } = admin;
  const tag = randomBytes(3).toString('hex');
  const carol = { email: `carol-${tag}@kofn.test`, displayName: 'Carol', password: 'carol password 1' };
  expect((await admin.post('/api/users', carol)).status()).toBe(201);
  const folder = `Drop here ${tag}`;
  expect((await admin.post('/api/folders', { name: folder })).status()).toBe(201);
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  const names = [`dnd-${tag}-a.bin`, `dnd-${tag}-b.bin`, `dnd-${tag}-c.bin`];
  await protect(
    page,
    names.map((n) => fileOf(n, randomBytes(3000))),
    names
  );

  // Drag and drop: a file row (grabbed by its name) onto the folder row moves it there. The window is tall
  // enough to show both: a drag does not scroll the page (Playwright moves the mouse, nothing auto-scrolls).
  await page.setViewportSize({ width: 1280, height: 1800 });
  await fileRow(page, names[0]!).scrollIntoViewIfNeeded();
  await fileRow(page, names[0]!).getByText(names[0]!, { exact: true }).dragTo(folderRow(page, folder));
  await expect(fileRow(page, names[0]!)).toHaveCount(0);
  // Two ticked rows drag together.
  await page.getByRole('checkbox', { name: `Select ${names[1]}`, exact: true }).check();
  await page.getByRole('checkbox', { name: `Select ${names[2]}`, exact: true }).check();
  await fileRow(page, names[1]!).getByText(names[1]!, { exact: true }).dragTo(folderRow(page, folder));
  await expect(fileRow(page, names[1]!)).toHaveCount(0);
  await expect(fileRow(page, names[2]!)).toHaveCount(0);
  await page.getByRole('button', { name: `Open folder ${folder}`, exact: true }).click();
  for (const n of names) await expect(fileRow(page, n)).toHaveCount(1);
  // From inside the folder, onto the "Your files" breadcrumb: back at the root.
  const crumbs = page.getByRole('navigation', { name: 'Folder path' });
  await fileRow(page, names[2]!)
    .getByText(names[2]!, { exact: true })
    .dragTo(crumbs.getByRole('button', { name: 'Your files', exact: true }));
  await expect(fileRow(page, names[2]!)).toHaveCount(0);
  const listing = (await (await admin.get('/api/folders?limit=500')).json()) as { files: Array<{ name: string }> };
  expect(listing.files.map((f) => f.name)).toContain(names[2]);

  // Bulk share: both files in the folder, one of them trashed behind the page's back, and the folder itself.
  await page.getByRole('checkbox', { name: `Select ${names[0]}`, exact: true }).check();
  await page.getByRole('checkbox', { name: `Select ${names[1]}`, exact: true }).check();
  const inFolder = (await (await admin.get(`/api/folders?q=${encodeURIComponent(names[1]!)}`)).json()) as { files: Array<{ id: string }> };
  expect((await admin.del(`/api/files/${inFolder.files[0]!.id}`)).status()).toBe(200);
  const bulk = page.getByTestId('bulk-bar');
  await expect(bulk).toContainText('2 selected');
  await bulk.getByRole('button', { name: 'Share…', exact: true }).click();
  const dialog = page.getByTestId('bulk-share-dialog');
  await expect(dialog.getByRole('heading')).toHaveText('Share 2 files');
  await dialog.getByLabel('E-mail of a kofn user').fill(carol.email);
  await dialog.getByRole('button', { name: 'Give read access', exact: true }).click();
  const result = dialog.getByTestId('bulk-share-result');
  await expect(result).toContainText(`${carol.email} can now retrieve ${names[0]}.`);
  await expect(dialog.getByTestId('bulk-share-failed')).toHaveText(`${names[1]}: File not found on the servers.`);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(shots, 'bulk-share-390.png') });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: join(shots, 'bulk-share-1280.png') });
  await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  const byMe = (await (await admin.get('/api/shared/by-me')).json()) as { files: Array<{ name: string; grantees: Array<{ email: string }> }> };
  expect(byMe.files.filter((f) => f.grantees.some((g) => g.email === carol.email)).map((f) => f.name)).toEqual([names[0]]);

  // Search all folders, on the server: from the root, the file in the folder and the one at the root.
  await crumbs.getByRole('button', { name: 'Your files', exact: true }).click();
  await page.getByRole('searchbox', { name: 'Search all folders of Your files' }).fill(`dnd-${tag}`);
  await expect(page.getByTestId('search-status')).toContainText(`dnd-${tag}`);
  await expect(fileRow(page, names[0]!)).toHaveCount(1);
  await expect(fileRow(page, names[2]!)).toHaveCount(1);
  await expect(fileRow(page, names[1]!)).toHaveCount(0);
  await page.locator('#files').screenshot({ path: join(shots, 'search-1280.png') });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator('#files').screenshot({ path: join(shots, 'search-390.png') });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByRole('searchbox', { name: 'Search all folders of Your files' }).fill(`Drop here ${tag}`);
  await expect(folderRow(page, folder)).toHaveCount(1);
  await expect(page.getByTestId('file-row')).toHaveCount(0);
  await page.getByRole('searchbox', { name: 'Search all folders of Your files' }).fill(`nothing-${tag}`);
  await expect(page.getByTestId('no-match')).toHaveText(`No file name contains “nothing-${tag}”.`);
  // Opening a folder leaves the search.
  await page.getByRole('searchbox', { name: 'Search all folders of Your files' }).fill(`Drop here ${tag}`);
  await page.getByRole('button', { name: `Open folder ${folder}`, exact: true }).click();
  await expect(page.getByTestId('search-status')).toHaveCount(0);
  await expect(page.getByRole('searchbox', { name: 'Search all folders of Your files' })).toHaveValue('');
  await expect(fileRow(page, names[0]!)).toHaveCount(1);
});

/** A one-page PDF that says "kofn preview" (objects and xref written out by hand). */
function tinyPdf(): Uint8Array {
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 100] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    '<< /Length 44 >>\nstream\nBT /F1 18 Tf 20 40 Td (kofn preview) Tj ET\nendstream',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>'
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return new TextEncoder().encode(out);
}

/** Whether `url` still loads as an image in the page (a revoked blob: URL does not). */
const loads = (page: Page, url: string) =>
  page.evaluate(
    (u) =>
      new Promise<string>((resolve) => {
        const img = new Image();
        img.onload = () => resolve(`loaded ${img.naturalWidth}x${img.naturalHeight}`);
        img.onerror = () => resolve('failed');
        img.src = u;
      }),
    url
  );

test('previews: an image, the start of a long text, a JSON file and a PDF from memory (audio, video and the size limit: previews-media.spec)', async ({ admin }) => {
  test.setTimeout(120_000);
  const { page } = admin;
  const tag = randomBytes(3).toString('hex');
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  // A real PNG of 120x80 pixels (a piece of this page), a text of 300 KiB (over the 256 KiB shown), JSON, a PDF.
  const png = await page.screenshot({ clip: { x: 0, y: 0, width: 120, height: 80 } });
  const lines = Array.from({ length: 40_000 }, (_, i) => `line ${String(i).padStart(6, '0')}`).join('\n');
  const text = new TextEncoder().encode(lines);
  expect(text.length).toBeGreaterThan(256 * 1024);
  const json = new TextEncoder().encode(JSON.stringify({ kofn: 'preview', tag, list: [1, 2, 3] }, null, 2));
  const files = {
    png: fileOf(`shot-${tag}.png`, png),
    txt: fileOf(`long-${tag}.txt`, text),
    json: fileOf(`data-${tag}.json`, json),
    pdf: fileOf(`paper-${tag}.pdf`, tinyPdf())
  };
  const names = Object.values(files).map((f) => f.path.split('/').pop()!);
  await protect(page, Object.values(files), names);
  const dialog = page.getByTestId('preview-dialog');
  const open = async (name: string) => page.getByRole('button', { name: `Preview ${name}`, exact: true }).click();
  const close = async () => {
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
    await expect(dialog).toBeHidden();
  };

  // The image: decoded from the retrieved bytes at its real size; its blob: URL is revoked on close.
  await open(`shot-${tag}.png`);
  const img = dialog.getByTestId('preview-image');
  await expect(img).toBeVisible({ timeout: 30_000 });
  const src = (await img.getAttribute('src'))!;
  expect(src).toMatch(/^blob:/);
  expect(await loads(page, src)).toBe('loaded 120x80');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(shots, 'preview-image-390.png') });
  await page.setViewportSize({ width: 1280, height: 900 });
  await close();
  expect(await loads(page, src)).toBe('failed');

  // Long text: exactly its first 256 KiB, with a note that there is more.
  await open(`long-${tag}.txt`);
  const pre = dialog.getByTestId('preview-text');
  await expect(pre).toBeVisible({ timeout: 30_000 });
  const shown = await pre.textContent();
  expect(shown).toBe(lines.slice(0, 256 * 1024));
  await expect(dialog.getByTestId('preview-truncated')).toContainText('The first 256 KiB');
  await close();

  // JSON: all of it.
  await open(`data-${tag}.json`);
  await expect(pre).toHaveText(new TextDecoder().decode(json), { timeout: 30_000 });
  await expect(dialog.getByTestId('preview-truncated')).toHaveCount(0);
  await close();

  // PDF: in a frame from a blob: URL (which this page's policy allows for frames only for blobs).
  await open(`paper-${tag}.pdf`);
  const frame = dialog.getByTestId('preview-pdf');
  await expect(frame).toBeVisible({ timeout: 30_000 });
  expect(await frame.getAttribute('src')).toMatch(/^blob:/);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: join(shots, 'preview-pdf-1280.png') });
  await close();
});
