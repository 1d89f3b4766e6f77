/**
 * Issue #13 item 10: after sign-out, an unfinished upload's plaintext File and MAC key must not stay in
 * IndexedDB for the next user of the browser profile. An upload is interrupted by a reload (as in
 * resume.spec.ts) and its resume held at the relays, so it stays unfinished; sign-out asks first, then
 * leaves no upload record and no reservation behind.
 */
import type { Page } from '@playwright/test';
import { test, expect, ADMIN } from '../fixtures.js';
import { attemptName, chooseSharing, makeFile, ready, signOutThroughUi, uploadPast } from '../helpers.js';

/** Row counts of the upload stores in this origin's IndexedDB ("kofn", web/src/lib/engine/upload-store.ts). */
function storedUploads(page: Page): Promise<{ uploads: number; files: number; digests: number }> {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('kofn');
        open.onerror = () => reject(open.error ?? new Error('indexedDB.open failed'));
        open.onsuccess = () => {
          const db = open.result;
          const tx = db.transaction(['uploads', 'files', 'digests'], 'readonly');
          const counts = { uploads: tx.objectStore('uploads').count(), files: tx.objectStore('files').count(), digests: tx.objectStore('digests').count() };
          tx.oncomplete = () => {
            db.close();
            resolve({ uploads: counts.uploads.result, files: counts.files.result, digests: counts.digests.result });
          };
          tx.onerror = () => reject(tx.error ?? new Error('the IndexedDB transaction failed'));
        };
      })
  );
}

test('sign-out asks, then clears unfinished uploads from IndexedDB and drops their reservation', async ({ admin }) => {
  test.setTimeout(180_000);
  const { page } = admin;
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  const name = attemptName('sign-out');
  await uploadPast(page, makeFile(name, 32 * 1024 * 1024).path, name, 10);

  // Interrupt it: reload, with the resume's chunk listing held by the relays so it stays unfinished.
  await page.route('**/v1/files/*/chunks', () => new Promise<void>(() => undefined));
  await page.reload();
  await ready(page);
  await expect.poll(() => storedUploads(page)).toMatchObject({ uploads: 1, files: 1 });
  expect((await storedUploads(page)).digests).toBeGreaterThan(0);

  // Asked first; cancelling keeps everything.
  await signOutThroughUi(page);
  const dialog = page.getByTestId('sign-out-dialog');
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('1 unfinished upload will be discarded.');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  expect(await storedUploads(page)).toMatchObject({ uploads: 1, files: 1 });

  await signOutThroughUi(page);
  await dialog.getByRole('button', { name: 'Discard and sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  expect(await storedUploads(page)).toEqual({ uploads: 0, files: 0, digests: 0 });
  await page.unrouteAll({ behavior: 'ignoreErrors' });

  // The session ended.
  expect((await page.request.get('/api/files')).status()).toBe(401);

  // The next user signs in in the same tab (no reload: the page's state survives) and sees none of
  // those transfers.
  await page.getByLabel('E-mail').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/$/);
  await ready(page);
  await expect(page.getByRole('heading', { name: 'Your files' })).toBeVisible();
  await expect(page.getByTestId('transfer').filter({ hasText: name })).toHaveCount(0);

  // The reservation is being removed rather than left for the cleanup job: marked for deletion, or
  // already gone if the deletion job ran.
  const { files } = (await (await page.request.get('/api/files')).json()) as { files: Array<{ name: string; status: string }> };
  expect(['[]', '["deleting"]']).toContain(JSON.stringify(files.filter((f) => f.name === name).map((f) => f.status)));

  // With nothing unfinished, sign-out does not ask: it goes straight to the login page.
  await signOutThroughUi(page);
  await expect(page).toHaveURL(/\/login$/);
});
