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
/**
 * The schemes that also take the 64 MiB file ("3of5,5of5"; every scheme when unset). `npm test` gives it to
 * (3,5) alone (KOFN_E2E_BIG_FILE_SCHEMES, e2e/run-all.mjs): the other schemes' 1 MiB + 7 B file already spans two
 * chunks on every relay, and each further 64 MiB round trip cost the CPU-bound run a 64 MiB file sent into
 * Chromium and n shares of it through the browser, the relays and back.
 */
const bigFileSchemes = process.env.KOFN_E2E_BIG_FILE_SCHEMES?.split(',');

test.describe.configure({ timeout: 600_000 });

for (const [k, n] of SCHEMES) {
  const sizes = SIZES.filter(([, size]) => size < 64 * 1024 * 1024 || !bigFileSchemes || bigFileSchemes.includes(`${k}of${n}`));
  test(`drop, protect and retrieve ${sizes.map(([label]) => label).join(', ')} with (${k},${n})`, async ({ admin }) => {
    const { page } = admin;
    await saveToOpfs(page);
    await page.goto('/');
    await chooseSharing(page, k, n);
    for (const [label, size] of sizes) {
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
