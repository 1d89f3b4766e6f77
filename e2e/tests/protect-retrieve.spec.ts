import { test, expect } from '../fixtures.js';
import { chooseSharing, makeFile, opfsSha256, protectThroughUi, retrieveThroughUi, saveToOpfs } from '../helpers.js';

const SIZES: Array<[string, number]> = [
  ['0B', 0],
  ['1B', 1],
  ['1MiB+7B', 1024 * 1024 + 7],
  ['64MiB', 64 * 1024 * 1024]
];
const SCHEMES: Array<[number, number]> = [
  [2, 3],
  [3, 5],
  [5, 5]
];

test.describe.configure({ timeout: 600_000 });

for (const [k, n] of SCHEMES) {
  test(`drop, protect and retrieve 0 B, 1 B, 1 MiB + 7 B and 64 MiB with (${k},${n})`, async ({ admin }) => {
    const { page } = admin;
    await saveToOpfs(page);
    await page.goto('/');
    await chooseSharing(page, k, n);
    for (const [label, size] of SIZES) {
      const name = `pr-${k}of${n}-${label}.bin`;
      const file = makeFile(name, size);
      await protectThroughUi(page, file, name);
      const row = page.getByTestId('file-row').filter({ has: page.getByText(name, { exact: true }) });
      await expect(row).toContainText(`${k} of ${n}`);
      await retrieveThroughUi(page, name);
      const retrieved = page
        .getByTestId('transfer')
        .filter({ hasText: `Retrieving ${name}` })
        .first();
      await expect(retrieved).toHaveAttribute('data-status', 'done');
      // A finished row shows the final figures, not the last ones its few-times-a-second refresh let through.
      await expect(retrieved.locator('progress')).toHaveAttribute('value', '100');
      if (size === 64 * 1024 * 1024) {
        for (const label of ['Protecting', 'Retrieving']) {
          const perServer = page
            .getByTestId('transfer')
            .filter({ hasText: `${label} ${name}` })
            .first()
            .locator('.relay');
          await expect(perServer).toHaveCount(label === 'Protecting' ? n : k);
          for (const figure of await perServer.allInnerTexts()) expect(figure, `${label} ${name}`).toMatch(/: 64 MiB$/);
        }
      }
      expect(await opfsSha256(page, name), `${name} saved bytes`).toBe(file.sha256);
    }
  });
}
