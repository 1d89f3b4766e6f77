/**
 * Resume: reload the page in the middle of a 64 MiB upload; it continues from where every relay had it
 * (not from zero), the final file is identical, and the relays hold exactly its chunks, nothing more. An
 * upload of this page load is never resumed a second time when the files page mounts again.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, expect } from '../fixtures.js';
import { attemptName, chooseSharing, makeFile, opfsSha256, retrieveThroughUi, saveToOpfs, uploadPast } from '../helpers.js';

test('a reload in the middle of an upload resumes it and leaves no leftovers', async ({ admin }) => {
  test.setTimeout(240_000);
  const { page } = admin;
  await saveToOpfs(page);
  await page.goto('/');
  await chooseSharing(page, 3, 5);
  const name = attemptName('resume-me');
  const file = makeFile(name, 64 * 1024 * 1024);
  await uploadPast(page, file.path, name, 25);
  await page.reload();

  const resumed = page
    .getByTestId('transfer')
    .filter({ hasText: `Protecting ${name}` })
    .first();
  await expect(resumed).toBeVisible();
  // It starts from the chunks already stored everywhere, not from zero.
  expect(Number(await resumed.locator('progress').getAttribute('value'))).toBeGreaterThan(15);
  await expect(resumed).toHaveAttribute('data-status', /done|error/, { timeout: 120_000 });
  await expect(resumed).toHaveAttribute('data-status', 'done');

  const { files } = (await (await admin.get('/api/files')).json()) as { files: Array<{ id: string; name: string; status: string }> };
  const stored = files.filter((f) => f.name === name);
  expect(stored.map((f) => f.status)).toEqual(['available']);
  const id = stored[0]!.id;
  const relaysDir = join(process.env.KOFN_E2E_DATA_DIR!, 'relays');
  for (const relay of readdirSync(relaysDir)) {
    const chunks = readdirSync(join(relaysDir, relay, 'chunks', id.slice(0, 2), id));
    expect(chunks.length, `${relay} holds the metadata chunk and 64 data chunks`).toBe(65);
    expect(readdirSync(join(relaysDir, relay, 'tmp')), `${relay} has no spool leftovers`).toEqual([]);
  }

  await retrieveThroughUi(page, name);
  await expect(
    page
      .getByTestId('transfer')
      .filter({ hasText: `Retrieving ${name}` })
      .first()
  ).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, name)).toBe(file.sha256);
});

test('leaving the files page and coming back during an upload does not run it a second time', async ({ admin }) => {
  // The files page looks for interrupted uploads each time it mounts; an upload of this page load is one too
  // (it is kept in IndexedDB as it runs), and a second run of it deleted, past its own resume point, the chunks
  // the first had just stored.
  test.setTimeout(180_000);
  const { page } = admin;
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  const name = attemptName('navigate-away');
  const rows = await uploadPast(page, makeFile(name, 32 * 1024 * 1024).path, name, 5);
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Administration' }).click();
  await expect(page).toHaveURL(/\/admin$/);
  await nav.getByRole('link', { name: 'Files', exact: true }).click();
  await expect(page).toHaveURL(/\/(#files)?$/);
  await expect(page.getByRole('region', { name: 'Your files' })).toBeVisible();

  await expect(rows.first()).toHaveAttribute('data-status', /done|error/, { timeout: 120_000 });
  await expect(rows.first()).toHaveAttribute('data-status', 'done');
  // One run of it, and no second one started behind the first.
  await expect(rows).toHaveCount(1);
  const { files } = (await (await admin.get('/api/files')).json()) as { files: Array<{ id: string; name: string; status: string }> };
  const stored = files.filter((f) => f.name === name);
  expect(stored.map((f) => f.status)).toEqual(['available']);
  const id = stored[0]!.id;
  const relaysDir = join(process.env.KOFN_E2E_DATA_DIR!, 'relays');
  let holding = 0;
  for (const relay of readdirSync(relaysDir)) {
    const dir = join(relaysDir, relay, 'chunks', id.slice(0, 2), id);
    if (!existsSync(dir)) continue;
    holding += 1;
    expect(readdirSync(dir).length, `${relay} holds the metadata chunk and 32 data chunks`).toBe(33);
  }
  expect(holding).toBe(3);
});
