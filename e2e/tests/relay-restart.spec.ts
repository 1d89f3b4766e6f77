/**
 * Issue #24, gaps by reading, on a stack of this file's own:
 *  - resume with a relay killed and restarted during the upload: relay-3 is killed (SIGKILL, by PID) in the
 *    middle of a 32 MiB (2,3) upload and the page is left at that moment; the launcher's supervision brings
 *    the relay back on the same port and data; the page, opened again, resumes the upload from where every
 *    relay had it, and the file is committed whole and comes back byte-identical;
 *  - kofn-recover on the real relay folders written through the UI: the stack is stopped and
 *    `shared/bin/kofn-recover.mjs` rebuilds every file from k = 2 of the three folders (the killed relay's
 *    among them), byte-identical and under the names they were protected with; with one folder it fails.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test, expect } from '../fixtures.js';
import { killRelay, startStack, type RunningStack } from '../stack.js';
import { chooseSharing, makeFile, openAsNewAdmin, opfsSha256, protectThroughUi, ready, retrieveThroughUi, uploadPast } from '../helpers.js';
import type { Page } from '@playwright/test';

test.describe.configure({ mode: 'serial', timeout: 300_000 });

const recoverBin = resolve(import.meta.dirname, '../../shared/bin/kofn-recover.mjs');
let stack: RunningStack;
let page: Page;
const BIG = { name: 'killed-midway.bin', file: makeFile('killed-midway.bin', 32 * 1024 * 1024 + 7) };
// A name with non-ASCII characters and spaces: kofn-recover must write it as protected.
const NOTES = { name: 'Notizen – März ✓.txt', file: makeFile('notes-upload.txt', 1536 * 1024 + 3) };
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

test.beforeAll(async ({ browser }) => {
  test.setTimeout(240_000);
  stack = await startStack({ relays: 3, tier: 'Pro', env: { KOFN_STACK_RESTART_DELAY_MS: '500' } });
  page = await openAsNewAdmin(browser, stack.url);
});

test.afterAll(async () => {
  await page
    ?.context()
    .close()
    .catch(() => undefined);
  await stack?.stop();
});

test('an upload whose relay is killed and restarted midway resumes and completes byte-identical', async () => {
  await chooseSharing(page, 2, 3);
  await uploadPast(page, BIG.file.path, BIG.name, 20, { timeout: 120_000, intervals: [100] });
  const victim = stack.relayProcs.find((r) => r.name === 'relay-3')!;
  const oldPid = victim.pid;
  const back = stack.restarted(victim.name);
  await killRelay(victim);
  // The browser goes away at that moment (a closed laptop, a lost connection): the upload stays in
  // IndexedDB, unfinished.
  await page.goto('about:blank');
  await back;
  expect(victim.pid).not.toBe(oldPid);
  await expect.poll(async () => (await fetch(`${victim.url}/v1/health`).catch(() => undefined))?.status, { timeout: 30_000 }).toBe(200);

  await page.goto('/');
  await ready(page);
  const resumed = page
    .getByTestId('transfer')
    .filter({ hasText: `Protecting ${BIG.name}` })
    .first();
  await expect(resumed).toBeVisible({ timeout: 30_000 });
  // It starts from what every relay had acknowledged, not from zero.
  expect(Number(await resumed.locator('progress').getAttribute('value'))).toBeGreaterThan(10);
  await expect(resumed).toHaveAttribute('data-status', /done|error/, { timeout: 180_000 });
  await expect(resumed, await resumed.innerText()).toHaveAttribute('data-status', 'done');

  const { files } = (await (await page.request.get('/api/files')).json()) as { files: Array<{ id: string; name: string; status: string }> };
  const stored = files.filter((f) => f.name === BIG.name);
  expect(stored.map((f) => f.status)).toEqual(['available']);
  const id = stored[0]!.id;
  for (const relay of ['relay-1', 'relay-2', 'relay-3']) {
    const chunks = readdirSync(join(stack.dataDir, 'relays', relay, 'chunks', id.slice(0, 2), id));
    expect(chunks.length, `${relay} holds the metadata chunk and 33 data chunks, nothing more`).toBe(34);
  }
  await retrieveThroughUi(page, BIG.name);
  await expect(
    page
      .getByTestId('transfer')
      .filter({ hasText: `Retrieving ${BIG.name}` })
      .first()
  ).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, BIG.name)).toBe(BIG.file.sha256);
});

function recover(dirs: string[]): Promise<{ code: number; stdout: string; out: string }> {
  const out = mkdtempSync(join(tmpdir(), 'kofn-e2e-recovered-'));
  return new Promise((res) => {
    execFile(process.execPath, [recoverBin, '--out', out, ...dirs], (err, stdout) => res({ code: err ? Number(err.code ?? 1) : 0, stdout, out }));
  });
}

test('kofn-recover rebuilds every file from k of the relay folders the UI wrote, under their names', async () => {
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  // The name the file is protected under is the picked file's own.
  const named = join(mkdtempSync(join(tmpdir(), 'kofn-e2e-named-')), NOTES.name);
  copyFileSync(NOTES.file.path, named);
  await protectThroughUi(page, { path: named }, NOTES.name);
  const { files } = (await (await page.request.get('/api/files')).json()) as { files: Array<{ id: string; name: string }> };
  const ids = new Map(files.map((f) => [f.name, f.id]));
  await page.context().close();
  await stack.stop({ keepData: true });

  const relays = join(stack.dataDir, 'relays');
  try {
    for (const pair of [
      ['relay-1', 'relay-3'],
      ['relay-2', 'relay-3'],
      ['relay-1', 'relay-2']
    ]) {
      const r = await recover(pair.map((n) => join(relays, n)));
      try {
        expect(r.code, r.stdout).toBe(0);
        expect(r.stdout).toContain('2 recovered, 0 failed');
        for (const f of [BIG, NOTES]) {
          expect(r.stdout).toContain(`ok     ${ids.get(f.name)} -> ${join(r.out, f.name)} (`);
          expect(sha(readFileSync(join(r.out, f.name))), `${f.name} from ${pair.join(' + ')}`).toBe(f.file.sha256);
        }
        expect(readdirSync(r.out).sort()).toEqual([BIG.name, NOTES.name, 'kofn-recover-manifest.json'].sort());
      } finally {
        rmSync(r.out, { recursive: true, force: true });
      }
    }
    // One folder is fewer than k = 2 shares: nothing is rebuilt, and each file is reported failed.
    const alone = await recover([join(relays, 'relay-3')]);
    expect(alone.code).toBe(1);
    expect(alone.stdout).toContain('0 recovered, 2 failed');
    expect(readdirSync(alone.out)).toEqual(['kofn-recover-manifest.json']);
    rmSync(alone.out, { recursive: true, force: true });
  } finally {
    rmSync(stack.dataDir, { recursive: true, force: true });
  }
});
