/**
 * Compact mode in the product (issue #23, lever 2; shared/docs/compact-mode.md), in real Chromium on a stack
 * of this file's own (a coordinator and 5 relays): the protect settings offer "Compact" with its plain
 * warning (Shamir stays the default), compact files round-trip byte-identical through the share workers
 * for (2,3) and (3,5), each relay stores a fragment of header + ceil((chunk + 16) / k) bytes per chunk,
 * any k of the n relays rebuild a file, a tampered fragment and a tampered key share are detected and the
 * relay named, a renewed compact file retrieves byte-identical, a Shamir file beside them keeps working, and
 * `kofn-recover` rebuilds every file offline from k of the real relay folders.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test, expect } from '../fixtures.js';
import { startStack, type RunningStack } from '../stack.js';
import { chooseSharing, makeFile, opfsSha256, openAsNewAdmin, protectThroughUi, ready, retrieveThroughUi } from '../helpers.js';
import type { Page } from '@playwright/test';

test.describe.configure({ mode: 'serial', timeout: 600_000 });

const MiB = 1024 * 1024;
const recoverBin = resolve(import.meta.dirname, '../../shared/bin/kofn-recover.mjs');
const SIZES: Array<[string, number]> = [
  ['0B', 0],
  ['1B', 1],
  ['1MiB', MiB],
  ['4MiB+3B', 4 * MiB + 3]
];
const SCHEMES: Array<[number, number]> = [
  [2, 3],
  [3, 5]
];

let stack: RunningStack;
let page: Page;
/** Every file protected here, for the offline recovery at the end. */
const made = new Map<string, { sha256: string; mode: 'compact' | 'shamir' }>();

const transferOf = (name: string) =>
  page
    .getByTestId('transfer')
    .filter({ hasText: `Retrieving ${name}` })
    .first();
const rowOf = (name: string) => page.getByTestId('file-row').filter({ has: page.getByText(name, { exact: true }) });

async function fileId(name: string): Promise<string> {
  const { files } = (await (await page.request.get('/api/files')).json()) as { files: Array<{ id: string; name: string }> };
  return files.find((f) => f.name === name)!.id;
}

/** The stored share chunk `index` of a file (epoch 0) on a relay's disk: `chunks/<id[0:2]>/<id>/<index>.<digest>`. */
function chunkPath(relay: number, id: string, index: number): string {
  const dir = join(stack.relayProcs[relay]!.dataDir, 'chunks', id.slice(0, 2), id);
  return join(
    dir,
    readdirSync(dir).find((n) => n.startsWith(`${index}.`))!
  );
}

/** Chooses compact mode in the protect settings and checks the warning the person sees. */
async function chooseCompact(k: number): Promise<void> {
  await page.getByTestId('mode-compact').check();
  await expect(page.getByTestId('compact-warning')).toHaveText(
    `Compact: about 3x less storage and traffic; secrecy relies on AES-256. Any ${k} storage servers still rebuild a file; fewer learn nothing about its key.`
  );
}

async function clearSaved(name: string): Promise<void> {
  await page.evaluate(async (n) => (await navigator.storage.getDirectory()).removeEntry(n).catch(() => undefined), name);
}

/** Retrieves `name` through the page with only the relays at `use` answering pings (the others ranked last). */
async function retrieveVia(name: string, use: number[]): Promise<void> {
  await page.unrouteAll();
  for (const [i, r] of stack.relayProcs.entries()) if (!use.includes(i)) await page.route(`${r.url}/v1/ping`, (route) => route.fulfill({ status: 503 }));
  await page.reload();
  await clearSaved(name);
  await retrieveThroughUi(page, name);
}

test.beforeAll(async ({ browser }) => {
  // Starting a stack of its own (a coordinator and relays) can take over a minute on a loaded 2-core machine.
  test.setTimeout(180_000);
  stack = await startStack({ relays: 5, tier: 'Pro' });
  page = await openAsNewAdmin(browser, stack.url);
});

test.afterAll(async () => {
  await page
    ?.context()
    .close()
    .catch(() => undefined);
  await stack?.stop();
});

test('Shamir is the default; compact files of 0 B, 1 B, 1 MiB and 4 MiB + 3 B round-trip with (2,3) and (3,5), stored as n/k-sized fragments', async () => {
  await ready(page);
  await expect(page.getByTestId('mode-shamir')).toBeChecked();
  await expect(page.getByTestId('compact-warning')).toHaveCount(0);
  for (const [k, n] of SCHEMES) {
    await page.goto('/');
    await chooseSharing(page, k, n);
    await chooseCompact(k);
    for (const [label, size] of SIZES) {
      const name = `compact-${k}of${n}-${label}.bin`;
      const file = makeFile(name, size);
      await protectThroughUi(page, file, name);
      made.set(name, { sha256: file.sha256, mode: 'compact' });
      await expect(rowOf(name)).toContainText(`${k} of ${n}`);
      await expect(rowOf(name).getByTestId('file-mode')).toHaveText('Compact');
      const id = await fileId(name);
      // Each relay holds header (40) + ceil((chunk + 16) / k) per data chunk: the sizes written out here,
      // not computed by the code under test. Chunk 1 of each file is checked on every relay.
      if (size > 0) {
        const plain = Math.min(size, MiB);
        for (let r = 0; r < n; r++) expect(statSync(chunkPath(r, id, 1)).size, `${name} on relay ${r + 1}`).toBe(40 + Math.ceil((plain + 16) / k));
      }
      await retrieveThroughUi(page, name);
      await expect(transferOf(name)).toHaveAttribute('data-status', 'done');
      expect(await opfsSha256(page, name), `${name} saved bytes`).toBe(file.sha256);
    }
  }
});

test('any k of n relays rebuild a compact file: data relays only, parity relays only, and mixes', async () => {
  const name = 'compact-3of5-4MiB+3B.bin';
  // Relays in manifest order are the first k (the code's data points, systematic) and n - k parity ones.
  for (const use of [
    [0, 1, 2],
    [2, 3, 4],
    [0, 3, 4],
    [1, 2, 4]
  ]) {
    await retrieveVia(name, use);
    await expect(transferOf(name)).toHaveAttribute('data-status', 'done');
    expect(await opfsSha256(page, name), `from relays ${use.map((u) => u + 1).join(', ')}`).toBe(made.get(name)!.sha256);
    // The bytes came from exactly these relays: the transfer lists each relay it read from.
    const readFrom = await transferOf(name).locator('.relay').allInnerTexts();
    expect(readFrom.map((t) => t.split(':')[0]!.trim()).sort()).toEqual(use.map((u) => stack.relayProcs[u]!.name).sort());
  }
  await page.unrouteAll();
});

for (const [what, index, relay] of [
  ['data fragment (chunk 2)', 2, 3],
  ['key share (chunk 0, the Shamir-split record)', 0, 4]
] as const) {
  test(`a tampered ${what} is detected, routed around and its relay named; the file is byte-identical`, async () => {
    await page.unrouteAll();
    await page.goto('/');
    await chooseSharing(page, 3, 5);
    await chooseCompact(3);
    const name = `compact-tamper-${index}.bin`;
    const file = makeFile(name, 3 * MiB + 5);
    await protectThroughUi(page, file, name);
    const path = chunkPath(relay, await fileId(name), index);
    const bytes = readFileSync(path);
    bytes[bytes.length - 30]! ^= 0x40;
    writeFileSync(path, bytes);
    // The tampered relay is the only one whose ping answers: it is among the k read first.
    await retrieveVia(name, [relay]);
    await expect(transferOf(name)).toHaveAttribute('data-status', 'done');
    expect(await opfsSha256(page, name)).toBe(file.sha256);
    const row = page.getByTestId('history-row').filter({ hasText: 'retrieve' }).filter({ hasText: name }).first();
    await expect(row).toContainText(`bad data from: ${stack.relayProcs[relay]!.name}`);
    await page.unrouteAll();
    // Not recovered offline below from these relays' folders: one of them is damaged on purpose.
    made.set(name, { sha256: file.sha256, mode: 'compact' });
  });
}

test('a renewed compact file retrieves byte-identical from the new epoch; a Shamir file beside it keeps working', async () => {
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  await chooseCompact(2);
  const name = 'compact-renew.bin';
  const file = makeFile(name, 2 * MiB + 9);
  await protectThroughUi(page, file, name);
  made.set(name, { sha256: file.sha256, mode: 'compact' });
  await expect(rowOf(name).getByTestId('renewal-epoch')).toContainText('epoch 0');
  await rowOf(name)
    .getByRole('button', { name: `Renew ${name} now` })
    .click();
  // The job runner polls every second; the list is read again on each reload.
  await expect(async () => {
    await page.reload();
    await expect(rowOf(name).getByTestId('renewal-epoch')).toContainText('epoch 1', { timeout: 1000 });
  }).toPass({ timeout: 180_000 });
  await expect(rowOf(name).getByTestId('renewal-state')).toContainText('renewed');
  await clearSaved(name);
  await retrieveThroughUi(page, name);
  await expect(transferOf(name)).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, name)).toBe(file.sha256);

  // A reload resets the choice to Shamir: a file protected now is a version-1 Shamir file.
  await page.reload();
  await chooseSharing(page, 2, 3);
  await expect(page.getByTestId('mode-shamir')).toBeChecked();
  const plain = 'shamir-beside.bin';
  const shamir = makeFile(plain, MiB + 7);
  await protectThroughUi(page, shamir, plain);
  made.set(plain, { sha256: shamir.sha256, mode: 'shamir' });
  await expect(rowOf(plain).getByTestId('file-mode')).toHaveText('Shamir');
  const id = await fileId(plain);
  expect(readFileSync(chunkPath(0, id, 1))[4]).toBe(1);
  expect(statSync(chunkPath(0, id, 1)).size).toBe(40 + MiB + 16);
  await retrieveThroughUi(page, plain);
  await expect(transferOf(plain)).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, plain)).toBe(shamir.sha256);
});

function recover(dirs: string[]): Promise<{ code: number; stdout: string; out: string }> {
  const out = mkdtempSync(join(tmpdir(), 'kofn-e2e-recovered-'));
  return new Promise((res) => {
    execFile(process.execPath, [recoverBin, '--out', out, ...dirs], { maxBuffer: 16 * MiB }, (err, stdout) => res({ code: err ? Number(err.code ?? 1) : 0, stdout, out }));
  });
}

test('kofn-recover rebuilds every compact and Shamir file offline from k of the real relay folders', async () => {
  await page.context().close();
  await stack.stop({ keepData: true });
  const relays = join(stack.dataDir, 'relays');
  // Relays 1-3 hold a share of every file ((2,3) files live on relays 1-3 only) and none was tampered with.
  const r = await recover(['relay-1', 'relay-2', 'relay-3'].map((n) => join(relays, n)));
  try {
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain(`${made.size} recovered, 0 failed`);
    for (const [name, f] of made) {
      expect(
        createHash('sha256')
          .update(readFileSync(join(r.out, name)))
          .digest('hex'),
        name
      ).toBe(f.sha256);
    }
  } finally {
    rmSync(r.out, { recursive: true, force: true });
    rmSync(stack.dataDir, { recursive: true, force: true });
  }
});
