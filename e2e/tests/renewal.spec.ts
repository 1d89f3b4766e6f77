/**
 * Proactive renewal from the UI (#15): the owner clicks "Renew now", the coordinator's job has the relays
 * re-randomise the shares and switches the file to epoch 1, and the file is then retrieved in Chromium
 * byte-identical from the new shares.
 */
import { test, expect } from '../fixtures.js';
import { chooseSharing, makeFile, opfsSha256, protectThroughUi, retrieveThroughUi, saveToOpfs } from '../helpers.js';

test.describe.configure({ timeout: 300_000 });

test('renew a file from the UI, then retrieve it byte-identical from the new epoch', async ({ admin }) => {
  const { page } = admin;
  await saveToOpfs(page);
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  const name = 'renew-ui.bin';
  const file = makeFile(name, 1024 * 1024 + 7);
  await protectThroughUi(page, file, name);
  const row = () => page.getByTestId('file-row').filter({ has: page.getByText(name, { exact: true }) });
  await expect(row().getByTestId('renewal-epoch')).toContainText('epoch 0');

  await row()
    .getByRole('button', { name: `Renew ${name} now` })
    .click();
  // The job runner polls every second; the list is read again on each reload.
  await expect(async () => {
    await page.reload();
    await expect(row().getByTestId('renewal-epoch')).toContainText('epoch 1', { timeout: 1000 });
  }).toPass({ timeout: 120_000 });
  await expect(row().getByTestId('renewal-state')).toContainText('renewed');

  const history = (await (await admin.get('/api/history')).json()) as { history: Array<{ operation: string; fileName: string; result: string }> };
  expect(history.history.some((h) => h.operation === 'renew' && h.fileName === name && h.result === 'ok')).toBe(true);

  await retrieveThroughUi(page, name);
  const retrieved = page
    .getByTestId('transfer')
    .filter({ hasText: `Retrieving ${name}` })
    .first();
  await expect(retrieved).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, name)).toBe(file.sha256);
});
