/**
 * `kofn ls [path]` and `kofn protect --to FOLDER` (issue #18) with the real launcher against the shared
 * stack: files protected into a folder path (made if missing; the batch and the streaming paths), listed
 * by folder, retrieved byte-identical; a bad folder name is a one-line error with a stable code.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test, expect, ADMIN } from '../fixtures.js';
import { runNode } from '../run-node.js';

const BIN = resolve(import.meta.dirname, '../../shared/bin/kofn.mjs');
const work = mkdtempSync(join(tmpdir(), 'kofn-cli-folders-'));

async function kofn(args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await runNode(BIN, args, { cwd: work, env: { KOFN_CONFIG_DIR: join(work, 'config') }, input });
  return { ...r, stdout: r.stdout.toString() };
}

const file = (name: string, size: number) => {
  const data = randomBytes(size);
  const path = join(work, name);
  writeFileSync(path, data);
  return { path, sha: createHash('sha256').update(data).digest('hex') };
};

test.afterAll(() => rmSync(work, { recursive: true, force: true }));

test('kofn protect --to makes the folder path and puts files there; kofn ls lists by folder', async ({ admin, stack }) => {
  // Eight CLI runs, each a Node start; a minute was not enough on a loaded machine.
  test.setTimeout(180_000);
  // The shared stack's admin exists once the fixture ran.
  expect(admin.csrfToken).toBeTruthy();
  const login = await kofn(['login', stack.url, '--email', ADMIN.email, '--password-stdin'], `${ADMIN.password}\n`);
  expect(login.code, login.stderr).toBe(0);
  const a = file('cli-fold-a.bin', 3000);
  const b = file('cli-fold-b.bin', 5000);
  const big = file('cli-fold-big.bin', 2 * 1024 * 1024);
  const many = await kofn(['protect', a.path, b.path, '-k', '2', '--to', 'CliWork/2026', '--quiet']);
  expect(many.code, many.stderr).toBe(0);
  const one = await kofn(['protect', big.path, '-k', '2', '--to', 'CliWork', '--quiet']);
  expect(one.code, one.stderr).toBe(0);

  const root = JSON.parse((await kofn(['ls', '--json'])).stdout) as { folders: Array<{ name: string }>; files: Array<{ name: string }> };
  expect(root.folders.map((f) => f.name)).toContain('CliWork');
  expect(root.files.map((f) => f.name)).not.toContain('cli-fold-a.bin');
  const work1 = await kofn(['ls', 'CliWork']);
  expect(work1.code, work1.stderr).toBe(0);
  expect(work1.stdout).toMatch(/2026\/$/m);
  expect(work1.stdout).toContain('cli-fold-big.bin');
  const inner = JSON.parse((await kofn(['ls', 'CliWork/2026', '--json'])).stdout) as { path: Array<{ name: string }>; files: Array<{ name: string; folderId: string }> };
  expect(inner.path.map((p) => p.name)).toEqual(['CliWork', '2026']);
  expect(inner.files.map((f) => f.name)).toEqual(['cli-fold-a.bin', 'cli-fold-b.bin']);

  const out = join(work, 'back-a.bin');
  const got = await kofn(['retrieve', 'cli-fold-a.bin', '-o', out]);
  expect(got.code, got.stderr).toBe(0);
  expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(a.sha);

  const bad = await kofn(['protect', a.path, '-k', '2', '--to', 'ok/../bad']);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/^kofn: .*\[INVALID_FILENAME\]/m);
  expect(bad.stderr).not.toMatch(/\n\s+at /);
});

test('kofn retrieve FOLDER brings back the folder with its sub-folders (empty ones too) and every file, byte-identical', async ({ admin, stack }) => {
  test.setTimeout(180_000);
  expect(admin.csrfToken).toBeTruthy();
  const login = await kofn(['login', stack.url, '--email', ADMIN.email, '--password-stdin'], `${ADMIN.password}\n`);
  expect(login.code, login.stderr).toBe(0);
  const top = file('cli-tree-top.bin', 4000);
  const deep = file('cli-tree-deep.bin', 6000);
  const big = file('cli-tree-big.bin', 5 * 1024 * 1024 + 3);
  expect((await kofn(['protect', top.path, big.path, '-k', '2', '--to', 'CliTree', '--quiet'])).code).toBe(0);
  expect((await kofn(['protect', deep.path, '-k', '2', '--to', 'CliTree/in/deeper', '--quiet'])).code).toBe(0);
  const made = await admin.post('/api/folders', { path: 'CliTree/empty' });
  expect(made.ok(), await made.text()).toBe(true);

  const dest = mkdtempSync(join(work, 'tree-out-'));
  const r = await kofn(['retrieve', 'CliTree', '-o', dest, '--json']);
  expect(r.code, r.stderr).toBe(0);
  const root = join(dest, 'CliTree');
  expect(readdirSync(root).sort()).toEqual(['cli-tree-big.bin', 'cli-tree-top.bin', 'empty', 'in']);
  expect(statSync(join(root, 'empty')).isDirectory()).toBe(true);
  const hash = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
  expect(hash(join(root, 'cli-tree-top.bin'))).toBe(top.sha);
  expect(hash(join(root, 'cli-tree-big.bin'))).toBe(big.sha);
  expect(hash(join(root, 'in', 'deeper', 'cli-tree-deep.bin'))).toBe(deep.sha);
  expect((JSON.parse(r.stdout) as { files: unknown[] }).files).toHaveLength(3);

  // A folder cannot go to standard output: a clear one-line error, nothing written.
  const bad = await kofn(['retrieve', 'CliTree/in', '-o', '-']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/^kofn: .*\[CLI_USAGE\]/m);
  expect(bad.stdout).toBe('');
  // Neither a file nor a folder: NOT_FOUND, exit 2.
  const none = await kofn(['retrieve', 'CliTree/nothing-here', '-o', dest]);
  expect(none.code).toBe(2);
  expect(none.stderr).toMatch(/^kofn: .*\[NOT_FOUND\]/m);
  expect(existsSync(join(dest, 'nothing-here'))).toBe(false);
});
