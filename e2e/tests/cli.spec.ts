/**
 * The `kofn` command-line client (issue #20) against a real stack of its own (coordinator on PGlite, five
 * disk relays as processes): the real launcher `shared/bin/kofn.mjs` run as a child process, as a user's
 * shell would. Signing in, folders in batches, listing, sharing, links, checks, completion, byte-identical
 * interop with the web app in Chromium both ways, a corrupt share and relays killed down to k, and bad input
 * that must give a clear one-line error with a stable code and a documented exit code, never a stack trace.
 * The transfers themselves (round trips 0 B to 256 MiB, pipes, flat memory, resume, Ctrl-C) are in
 * cli-transfers.spec.ts, a lane of their own.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect, ADMIN } from '../fixtures.js';
import { killRelay, startStack, type RelayProc, type RunningStack } from '../stack.js';
import { expectCleanError, kofnIn, randomFile, sha256Hex } from '../cli-run.js';
import { chooseSharing, opfsSha256, protectThroughUi, retrieveThroughUi, saveToOpfs } from '../helpers.js';
import { pauseWhileRanking } from '../paused-ranking.js';

test.describe.configure({ mode: 'serial', timeout: 240_000 });

const work = mkdtempSync(join(tmpdir(), 'kofn-cli-e2e-'));
const configDir = join(work, 'config');
let stack: RunningStack;
const ALL = () => stack.relayProcs.map((r) => r.name).join(',');

const kofn = kofnIn(work, configDir);
const sha = sha256Hex;
const makeFile = (name: string, size: number) => randomFile(work, name, size);

test.beforeAll(async () => {
  // Starting a stack of its own (a coordinator and relays) can take over a minute on a loaded 2-core machine.
  test.setTimeout(180_000);
  stack = await startStack({ relays: 5, tier: 'Pro', tolerateRelayExits: true });
  const res = await fetch(`${stack.url}/api/setup`, { method: 'POST', headers: { origin: stack.url, 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
  expect(res.status).toBe(201);
});

test.afterAll(async () => {
  await stack?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('login: a wrong password exits 3 with INVALID_CREDENTIALS; the right one stores the session 0600', async () => {
  const wrong = await kofn(['login', stack.url, '--email', ADMIN.email, '--password-stdin'], { input: 'not the password\n' });
  expectCleanError(wrong, 'INVALID_CREDENTIALS', 3);
  const before = await kofn(['ls']);
  expectCleanError(before, 'NOT_SIGNED_IN', 3);

  const r = await kofn(['login', stack.url, '--email', ADMIN.email, '--password-stdin', '--json'], { input: `${ADMIN.password}\n` });
  expect(r.code, r.stderr).toBe(0);
  const saved = JSON.parse(r.stdout.toString()) as { saved: string };
  expect(statSync(saved.saved).mode & 0o777).toBe(0o600);
  expect(statSync(configDir).mode & 0o077).toBe(0);
  // The stored secrets are never printed.
  const stored = JSON.parse(readFileSync(saved.saved, 'utf8')) as { cookie: string; csrfToken: string };
  expect(r.stdout.toString() + r.stderr).not.toContain(stored.cookie);
  expect(r.stdout.toString() + r.stderr).not.toContain(stored.csrfToken);
});

test('a session file readable by others is refused', async () => {
  const path = join(configDir, 'session.json');
  const { chmodSync } = await import('node:fs');
  chmodSync(path, 0o644);
  try {
    expectCleanError(await kofn(['ls']), 'NOT_SIGNED_IN', 3);
  } finally {
    chmodSync(path, 0o600);
  }
});

test('protect a folder of small files in batches (one reserve and one commit request), each retrieved byte-identical', async () => {
  const dir = join(work, 'many');
  mkdirSync(dir);
  const sent = Array.from({ length: 12 }, (_, i) => {
    const data = randomBytes(i * 700);
    writeFileSync(join(dir, `small-${String(i).padStart(2, '0')}.bin`), data);
    return sha(data);
  });
  const p = await kofn(['protect', dir, '-k', '2', '--servers', ALL(), '--json']);
  expect(p.code, p.stderr).toBe(0);
  const files = (JSON.parse(p.stdout.toString()) as { files: Array<{ name: string; fileId: string; k: number; n: number; size: number }> }).files;
  expect(files.map((f) => f.name)).toEqual(sent.map((_, i) => `small-${String(i).padStart(2, '0')}.bin`));
  for (const [i, f] of files.entries()) {
    expect(f).toMatchObject({ k: 2, n: 5, size: i * 700 });
    const out = join(work, `back-${f.name}`);
    const r = await kofn(['retrieve', f.fileId, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(readFileSync(out))).toBe(sent[i]);
    rmSync(out);
  }
  // Again: every name is now in use; each file is reported, nothing half-done, and the exit status says so.
  const again = await kofn(['protect', dir, '-k', '2', '--json']);
  expect(again.code).not.toBe(0);
  const refused = (JSON.parse(again.stdout.toString()) as { files: Array<{ error?: { code: string } }> }).files;
  expect(refused.map((f) => f.error?.code)).toEqual(sent.map(() => 'FILENAME_IN_USE'));
  rmSync(dir, { recursive: true });
});

test('ls, status and rm', async () => {
  const f = makeFile('listed.bin', 1000);
  expect((await kofn(['protect', f.path, '-k', '2', '--quiet'])).code).toBe(0);
  const ls = JSON.parse((await kofn(['ls', '--json'])).stdout.toString()) as { files: Array<{ id: string; name: string; status: string; size: number }> };
  const row = ls.files.find((x) => x.name === 'listed.bin')!;
  expect(row).toMatchObject({ status: 'available', size: 1000 });
  const status = JSON.parse((await kofn(['status', '--json'])).stdout.toString()) as { relays: Array<{ name: string; status: string; pingMs: number | null }>; usage: { protectedBytes: number } };
  expect(status.relays).toHaveLength(5);
  for (const r of status.relays) {
    expect(r.status).toBe('online');
    expect(r.pingMs).not.toBeNull();
  }
  // The usage counts every file that is there (plaintext sizes), the one just protected included.
  const available = ls.files.filter((x) => x.status === 'available').reduce((sum, x) => sum + x.size, 0);
  expect(status.usage.protectedBytes).toBeGreaterThanOrEqual(available);
  expect(available).toBeGreaterThanOrEqual(1000);
  const rm = await kofn(['rm', 'listed.bin']);
  expect(rm.code, rm.stderr).toBe(0);
  const after = JSON.parse((await kofn(['ls', '--json'])).stdout.toString()) as { files: Array<{ name: string; status: string }> };
  expect(after.files.filter((x) => x.name === 'listed.bin' && x.status === 'available')).toEqual([]);
  expectCleanError(await kofn(['retrieve', 'listed.bin', '-o', join(work, 'gone.bin')]), 'NOT_FOUND', 2);
});

test('share and revoke: another user sees, retrieves byte-identical, and cannot remove; after revoke, no longer', async () => {
  // A second account, made by the administrator through the API.
  const login = await fetch(`${stack.url}/api/login`, {
    method: 'POST',
    headers: { origin: stack.url, 'content-type': 'application/json' },
    body: JSON.stringify({ email: ADMIN.email, password: ADMIN.password })
  });
  const cookie = login.headers
    .getSetCookie()
    .find((c) => c.startsWith('kofn_session='))!
    .split(';')[0]!;
  const { csrfToken } = (await login.json()) as { csrfToken: string };
  const bob = { email: 'bob@kofn.test', displayName: 'Bob', password: 'bob has a long password' };
  const made = await fetch(`${stack.url}/api/users`, {
    method: 'POST',
    headers: { origin: stack.url, cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' },
    body: JSON.stringify(bob)
  });
  expect(made.status).toBe(201);
  const bobConfig = join(work, 'config-bob');
  const asBob = (args: string[], input?: string) => kofn(args, { env: { KOFN_CONFIG_DIR: bobConfig }, ...(input ? { input } : {}) });
  expect((await asBob(['login', stack.url, '--email', bob.email, '--password-stdin'], `${bob.password}\n`)).code).toBe(0);

  const f = makeFile('for-bob.bin', 1024 * 1024 + 9);
  expect((await kofn(['protect', f.path, '-k', '2'])).code).toBe(0);
  expectCleanError(await asBob(['retrieve', 'for-bob.bin', '-o', join(work, 'bob-early.bin')]), 'NOT_FOUND', 2);
  const shared = await kofn(['share', 'for-bob.bin', bob.email]);
  expect(shared.code, shared.stderr).toBe(0);
  const ls = JSON.parse((await asBob(['ls', '--json'])).stdout.toString()) as { files: unknown[]; sharedWithMe: Array<{ name: string }> };
  expect(ls.sharedWithMe.map((x) => x.name)).toContain('for-bob.bin');
  const got = await asBob(['retrieve', 'for-bob.bin', '-o', '-']);
  expect(got.code, got.stderr).toBe(0);
  expect(sha(got.stdout)).toBe(f.sha256);
  // A grantee reads; only the owner removes or shares.
  expectCleanError(await asBob(['rm', 'for-bob.bin']), 'NOT_FOUND', 2);
  expectCleanError(await asBob(['share', 'for-bob.bin', 'eve@kofn.test']), 'NOT_FOUND', 2);

  expect((await kofn(['share', 'for-bob.bin', bob.email, '--revoke'])).code).toBe(0);
  const after = JSON.parse((await asBob(['ls', '--json'])).stdout.toString()) as { sharedWithMe: Array<{ name: string }> };
  expect(after.sharedWithMe.map((x) => x.name)).not.toContain('for-bob.bin');
  expectCleanError(await asBob(['retrieve', 'for-bob.bin', '-o', '-']), 'NOT_FOUND', 2);
  // Signing out forgets the session.
  expect((await asBob(['logout'])).code).toBe(0);
  expect(existsSync(join(bobConfig, 'session.json'))).toBe(false);
  expectCleanError(await asBob(['ls']), 'NOT_SIGNED_IN', 3);
});

test('bad input: missing file, k > n, unknown server, no network, existing output: clear errors, non-zero exits', async () => {
  const missing = await kofn(['protect', join(work, 'no-such-file.bin')]);
  expectCleanError(missing, 'FILE_UNREADABLE', 2);
  expect(missing.stderr).toContain('no-such-file.bin');
  // A folder stands for the files in it (protected in batches, tested below); one with none is an error.
  const emptyFolder = mkdtempSync(join(work, 'empty-'));
  const empty = await kofn(['protect', emptyFolder]);
  expectCleanError(empty, 'FILE_UNREADABLE', 2);
  expect(empty.stderr).toContain('holds no regular files');

  const f = makeFile('bad-input.bin', 4096);
  const names = stack.relayProcs.map((r) => r.name);
  expectCleanError(await kofn(['protect', f.path, '-k', '4', '--servers', names.slice(0, 3).join(',')]), 'THRESHOLD_TOO_HIGH', 2);
  // k > n with every server (the coordinator's own check).
  expectCleanError(await kofn(['protect', f.path, '-k', '6']), 'THRESHOLD_TOO_HIGH', 2);
  expectCleanError(await kofn(['protect', f.path, '-k', '1']), 'INVALID_THRESHOLD', 2);
  const unknown = await kofn(['protect', f.path, '--servers', 'relay-1,relay-nowhere']);
  expectCleanError(unknown, 'UNKNOWN_SERVER', 2);
  expect(unknown.stderr).toContain('relay-nowhere');
  expectCleanError(await kofn(['protect', f.path, '--frobnicate']), 'CLI_USAGE', 2);
  expectCleanError(await kofn(['frobnicate']), 'CLI_USAGE', 2);
  expectCleanError(await kofn(['protect', '-']), 'CLI_USAGE', 2);

  // Retrieval never overwrites an existing file unless asked.
  expect((await kofn(['protect', f.path, '-k', '2'])).code).toBe(0);
  writeFileSync(join(work, 'exists.bin'), 'keep me');
  expectCleanError(await kofn(['retrieve', 'bad-input.bin', '-o', join(work, 'exists.bin')]), 'CLI_USAGE', 2);
  expect(readFileSync(join(work, 'exists.bin'), 'utf8')).toBe('keep me');

  // No network: a server address where nothing listens (login and a stored session pointing there).
  const noNet = await kofn(['login', 'http://127.0.0.1:9', '--email', 'x@y.z', '--password-stdin'], { input: 'x\n' });
  expectCleanError(noNet, 'COORDINATOR_UNREACHABLE', 4);
  const otherConfig = join(work, 'config-dead');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(otherConfig, { mode: 0o700 });
  writeFileSync(join(otherConfig, 'session.json'), JSON.stringify({ url: 'http://127.0.0.1:9', email: 'x', cookie: 'c', csrfToken: 't' }), { mode: 0o600 });
  expectCleanError(await kofn(['ls'], { env: { KOFN_CONFIG_DIR: otherConfig } }), 'COORDINATOR_UNREACHABLE', 4);
  expectCleanError(await kofn(['protect', f.path], { env: { KOFN_CONFIG_DIR: otherConfig } }), 'COORDINATOR_UNREACHABLE', 4);
});

test('every command has --help with examples', async () => {
  for (const cmd of ['login', 'ls', 'protect', 'retrieve', 'rm', 'share', 'link', 'check', 'status', 'recover', 'completion']) {
    const r = await kofn([cmd, '--help']);
    expect(r.code, cmd).toBe(0);
    expect(r.stdout.toString(), cmd).toContain(`kofn ${cmd}`);
  }
  const login = (await kofn(['login', '--help'])).stdout.toString();
  expect(login).toContain('With --token-stdin it signs in with a personal API token');
  expect(login).toContain('kofn login https://kofn.example.org --token-stdin < ~/.kofn-token');
  const main = (await kofn(['--help'])).stdout.toString();
  expect(main).toContain('Exit codes');
});

test('interop with the web app: Chromium protects, the CLI retrieves; the CLI protects, Chromium retrieves; byte-identical', async ({ browser }) => {
  const context = await browser.newContext({ baseURL: stack.url });
  const page = await context.newPage();
  try {
    const login = await page.request.post('/api/login', { data: { email: ADMIN.email, password: ADMIN.password }, headers: { Origin: stack.url } });
    expect(login.status()).toBe(200);
    await saveToOpfs(page);
    await page.goto('/');
    await chooseSharing(page, 3, 5);
    const fromBrowser = makeFile('from-browser.bin', 2 * 1024 * 1024 + 333);
    await protectThroughUi(page, fromBrowser, 'from-browser.bin');
    const out = join(work, 'from-browser.out');
    const r = await kofn(['retrieve', 'from-browser.bin', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(readFileSync(out))).toBe(fromBrowser.sha256);

    const fromCli = makeFile('from-cli.bin', 3 * 1024 * 1024 + 77);
    const p = await kofn(['protect', fromCli.path, '-k', '3', '--servers', ALL()]);
    expect(p.code, p.stderr).toBe(0);
    await page.reload();
    await retrieveThroughUi(page, 'from-cli.bin');
    await expect(page.getByTestId('transfer').filter({ hasText: 'Retrieving from-cli.bin' }).first()).toHaveAttribute('data-status', 'done');
    expect(await opfsSha256(page, 'from-cli.bin')).toBe(fromCli.sha256);
  } finally {
    await context.close();
  }
});

/** Calls the coordinator's API as the signed-in admin, with the session `kofn login` stored. */
async function adminApi(method: string, path: string, body?: unknown): Promise<Response> {
  const s = JSON.parse(readFileSync(join(configDir, 'session.json'), 'utf8')) as { cookie: string; csrfToken: string };
  return fetch(`${stack.url}${path}`, {
    method,
    headers: { origin: stack.url, cookie: `kofn_session=${s.cookie}`, 'x-csrf-token': s.csrfToken, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  });
}

test('link: a share link with --expires, --downloads and --password opens in Chromium without an account, byte-identical; bad values are clear errors', async ({ browser }) => {
  const f = makeFile('linked-cli.bin', 2 * 1024 * 1024 + 7);
  expect((await kofn(['protect', f.path, '-k', '3'])).code).toBe(0);
  const made = await kofn(['link', 'linked-cli.bin', '--expires', '2d', '--downloads', '1', '--password-stdin', '--json'], { input: 'open sesame 7\n' });
  expect(made.code, made.stderr).toBe(0);
  const { url, link } = JSON.parse(made.stdout.toString()) as { url: string; link: { id: string; maxDownloads: number; passwordProtected: boolean; expiresAt: string } };
  expect(link).toMatchObject({ maxDownloads: 1, passwordProtected: true });
  expect(Math.abs(Date.parse(link.expiresAt) - (Date.now() + 2 * 86_400_000))).toBeLessThan(120_000);
  expect(url).toMatch(new RegExp(`^${stack.url}/s/${link.id}#p\\.[A-Za-z0-9_-]{43}$`));
  // The secret (the fragment) is not in anything the coordinator stored.
  const listed = await (await adminApi('GET', '/api/links')).text();
  expect(listed).not.toContain(url.split('#')[1]!.slice(2));

  const context = await browser.newContext({ baseURL: stack.url });
  const page = await context.newPage();
  try {
    await saveToOpfs(page);
    await page.goto(url);
    const box = page.getByTestId('link-retrieval');
    await box.getByLabel('Password of the link').fill('open sesame 7');
    await box.getByRole('button', { name: 'Download' }).click();
    await expect(box).toHaveAttribute('data-status', /done|error/, { timeout: 60_000 });
    await expect(box).toHaveAttribute('data-status', 'done');
    expect(await opfsSha256(page, 'linked-cli.bin')).toBe(f.sha256);
  } finally {
    await context.close();
  }
  // Without a password the link is plain (`#<secret>`).
  const plain = await kofn(['link', 'linked-cli.bin']);
  expect(plain.code, plain.stderr).toBe(0);
  expect(plain.stdout.toString().trim()).toMatch(new RegExp(`^${stack.url}/s/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}$`));

  expectCleanError(await kofn(['link', 'linked-cli.bin', '--expires', 'soon']), 'CLI_USAGE', 2);
  expectCleanError(await kofn(['link', 'linked-cli.bin', '--downloads', '0']), 'CLI_USAGE', 2);
  // Longer than links may live (30 days): the coordinator's own check.
  expectCleanError(await kofn(['link', 'linked-cli.bin', '--expires', '90d']), 'WRONG_VALUE', 2);
  expectCleanError(await kofn(['link', 'no-such-file.bin']), 'NOT_FOUND', 2);
});

test("link --list and --revoke: lists a file's links (and all), revokes one by id, then shows it revoked; bad uses are clear errors", async () => {
  const f = makeFile('listed-cli.bin', 4096);
  const other = makeFile('listed-other.bin', 100);
  for (const x of [f, other]) expect((await kofn(['protect', x.path, '-k', '3'])).code).toBe(0);
  const ids: string[] = [];
  for (const args of [['listed-cli.bin', '--downloads', '2'], ['listed-cli.bin', '--expires', '1d'], ['listed-other.bin']]) {
    const made = await kofn(['link', ...args, '--json']);
    expect(made.code, made.stderr).toBe(0);
    ids.push((JSON.parse(made.stdout.toString()) as { link: { id: string } }).link.id);
  }
  interface Listed {
    links: Array<{ id: string; fileName: string; state: string; maxDownloads: number | null; downloads: number }>;
  }
  const one = await kofn(['link', '--list', 'listed-cli.bin', '--json']);
  expect(one.code, one.stderr).toBe(0);
  const mine = (JSON.parse(one.stdout.toString()) as Listed).links;
  expect(mine.map((l) => l.id).sort()).toEqual([ids[0], ids[1]].sort());
  expect(mine.every((l) => l.fileName === 'listed-cli.bin' && l.state === 'active')).toBe(true);
  expect(mine.find((l) => l.id === ids[0])).toMatchObject({ maxDownloads: 2, downloads: 0 });
  // Without a file: every link of the user's, the other file's too.
  const all = await kofn(['link', '--list', '--json']);
  expect((JSON.parse(all.stdout.toString()) as Listed).links.map((l) => l.id)).toEqual(expect.arrayContaining(ids));
  // Text: one line per link, its id first, then its state.
  const text = await kofn(['link', '--list', 'listed-cli.bin']);
  const lines = text.stdout.toString().trim().split('\n');
  expect(lines).toHaveLength(2);
  expect(lines.find((l) => l.startsWith(ids[0]!))).toMatch(/^\S+ {2}active +listed-cli\.bin {2}until \S+, 0\/2 downloads$/);
  expect(lines.find((l) => l.startsWith(ids[1]!))).toMatch(/^\S+ {2}active +listed-cli\.bin {2}until \S+, 0 downloads$/);

  const revoked = await kofn(['link', '--revoke', ids[0]!, '--json']);
  expect(revoked.code, revoked.stderr).toBe(0);
  expect((JSON.parse(revoked.stdout.toString()) as { link: { id: string; state: string; revokedAt: string | null } }).link).toMatchObject({
    id: ids[0],
    state: 'revoked',
    revokedAt: expect.any(String)
  });
  const after = (JSON.parse((await kofn(['link', '--list', 'listed-cli.bin', '--json'])).stdout.toString()) as Listed).links;
  expect(Object.fromEntries(after.map((l) => [l.id, l.state]))).toEqual({ [ids[0]!]: 'revoked', [ids[1]!]: 'active' });
  // The coordinator agrees: the revoked link no longer opens (the recipient's route answers an error code).
  const open = await fetch(`${stack.url}/api/links/${ids[0]}/open`, {
    method: 'POST',
    headers: { origin: stack.url, 'content-type': 'application/json' },
    body: JSON.stringify({ at: Date.now(), signature: 'x' })
  });
  expect(open.ok).toBe(false);
  // Revoking again is harmless and says so; text output names the link.
  const again = await kofn(['link', '--revoke', ids[0]!]);
  expect(again.code, again.stderr).toBe(0);
  expect(again.stdout.toString()).toMatch(new RegExp(`^revoked ${ids[0]}  revoked `));

  expectCleanError(await kofn(['link', '--revoke', 'no-such-link']), 'NOT_FOUND', 2);
  expectCleanError(await kofn(['link', '--list', '--revoke', ids[1]!]), 'CLI_USAGE', 2);
  expectCleanError(await kofn(['link', '--revoke', ids[1]!, 'listed-cli.bin']), 'CLI_USAGE', 2);
  expectCleanError(await kofn(['link', '--list', 'no-such-file.bin']), 'NOT_FOUND', 2);
});

test('check: a healthy file exits 0; a missing share is named and exits 1', async () => {
  const f = makeFile('checked.bin', 3 * 1024 * 1024 + 1);
  const p = await kofn(['protect', f.path, '-k', '3', '--servers', ALL(), '--json']);
  expect(p.code, p.stderr).toBe(0);
  const [{ fileId }] = (JSON.parse(p.stdout.toString()) as { files: Array<{ fileId: string }> }).files as [{ fileId: string }];
  const ok = await kofn(['check', 'checked.bin', '--json']);
  expect(ok.code, ok.stderr).toBe(0);
  const [h] = (JSON.parse(ok.stdout.toString()) as { files: Array<{ health: { state: string; shares: Array<{ name: string; state: string }> } }> }).files;
  expect(h!.health.state).toBe('healthy');
  expect(h!.health.shares.map((s) => s.state)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);

  // One relay loses a chunk of it (a disk fault): the check names that relay.
  const relay = stack.relayProcs[2]!.name;
  const chunkDir = join(stack.relayProcs[2]!.dataDir, 'chunks', fileId.slice(0, 2), fileId);
  const [victim] = readdirSync(chunkDir).sort().reverse();
  rmSync(join(chunkDir, victim!));
  const bad = await kofn(['check', 'checked.bin']);
  expect(bad.code, bad.stderr).toBe(1);
  expect(bad.stdout.toString()).toMatch(/checked\.bin: degraded/);
  expect(bad.stdout.toString()).toMatch(new RegExp(`${relay}\\s+(missing|damaged)`));
  expectCleanError(await kofn(['check']), 'CLI_USAGE', 2);
});

test('bad input: unreadable paths, a revoked (or expired) API token and an ended session: clear errors, non-zero exits', async () => {
  // Paths that cannot be read (tests run as root, which reads any file whatever its mode).
  const f = makeFile('plain.bin', 10);
  const through = await kofn(['protect', join(f.path, 'inside')]);
  expectCleanError(through, 'FILE_UNREADABLE', 2);
  expectCleanError(await kofn(['protect', '/dev/null']), 'FILE_UNREADABLE', 2);
  if (process.getuid?.() !== 0) {
    const locked = makeFile('locked.bin', 10);
    const { chmodSync } = await import('node:fs');
    chmodSync(locked.path, 0);
    const denied = await kofn(['protect', locked.path]);
    expectCleanError(denied, 'FILE_UNREADABLE', 2);
    expect(denied.stderr).toContain('permission denied');
  }
  // Retrieval into a folder that cannot be written to (a path through a file).
  expect((await kofn(['protect', f.path, '-k', '2'])).code).toBe(0);
  expectCleanError(await kofn(['retrieve', 'plain.bin', '-o', join(f.path, 'x')]), 'FILE_UNREADABLE', 2);

  // An API token revoked on the Account page (an expired one is refused the same way: api-tokens.ts).
  const made = await adminApi('POST', '/api/tokens', { name: 'cli-revoked', expiresInDays: 1 });
  expect(made.status).toBe(201);
  const { token, handle } = (await made.json()) as { token: string; handle: string };
  const env = { KOFN_URL: stack.url, KOFN_TOKEN: token };
  expect((await kofn(['ls'], { env })).code).toBe(0);
  expect((await adminApi('DELETE', `/api/tokens/${handle}`)).status).toBe(200);
  const revoked = await kofn(['ls'], { env });
  expectCleanError(revoked, 'NOT_SIGNED_IN', 3);
  expect(revoked.stderr).not.toContain(token);
  // A session the server no longer knows.
  const ended = join(work, 'config-ended');
  mkdirSync(ended, { mode: 0o700 });
  writeFileSync(join(ended, 'session.json'), JSON.stringify({ url: stack.url, email: ADMIN.email, cookie: 'gone', csrfToken: 'gone' }), { mode: 0o600 });
  expectCleanError(await kofn(['ls'], { env: { KOFN_CONFIG_DIR: ended } }), 'NOT_SIGNED_IN', 3);
});

test("completion: bash completes commands and each command's options", async () => {
  const script = (await kofn(['completion', 'bash'])).stdout.toString();
  const complete = (words: string[]) =>
    new Promise<string>((res, rej) => {
      const sh = spawn('bash', ['-c', `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _kofn; echo "\${COMPREPLY[*]}"`], {
        stdio: ['ignore', 'pipe', 'inherit']
      });
      let o = '';
      sh.stdout.on('data', (b: Buffer) => (o += b.toString()));
      sh.once('error', rej);
      sh.once('close', () => res(o.trim()));
    });
  expect(await complete(['kofn', 'li'])).toBe('link');
  expect((await complete(['kofn', 'link', '--'])).split(' ')).toEqual(expect.arrayContaining(['--expires', '--downloads', '--password', '--json']));
  expect(await complete(['kofn', 'completion', ''])).toBe('bash zsh');
  expect((await kofn(['completion', 'zsh'])).stdout.toString()).toContain('#compdef kofn');
  expectCleanError(await kofn(['completion', 'fish']), 'CLI_USAGE', 2);
});

/** zsh, when installed (.ci/run installs Debian's); the zsh completion test reports itself skipped without it. */
const ZSH = ['/usr/bin/zsh', '/bin/zsh'].find((p) => existsSync(p));

test('completion: the zsh script loads after compinit, registers _kofn and completes commands', async () => {
  test.skip(!ZSH, 'zsh is not installed (apt-get install zsh; .ci/run installs it)');
  const script = (await kofn(['completion', 'zsh'])).stdout.toString();
  const path = join(work, '_kofn.zsh');
  writeFileSync(path, script);
  // compadd is a builtin of completion widgets only: a function of the same name (functions come before
  // builtins) prints what _kofn offers, so the command list and `completion`'s words are checked outside a widget.
  const zsh = (body: string) =>
    new Promise<{ code: number | null; out: string; err: string }>((res, rej) => {
      const sh = spawn(ZSH!, ['-f', '-c', `autoload -U compinit; compinit -u -D; source ${path}\n${body}`], { env: { ...process.env, HOME: work }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      sh.stdout.on('data', (b: Buffer) => (out += b.toString()));
      sh.stderr.on('data', (b: Buffer) => (err += b.toString()));
      sh.once('error', rej);
      sh.once('close', (code) => res({ code, out: out.trim(), err }));
    });
  const syntax = spawn(ZSH!, ['-n', path]);
  expect(await new Promise((r) => syntax.once('close', r))).toBe(0);
  const loaded = await zsh('print -r -- ${_comps[kofn]}; (( $+functions[_kofn] )) && print defined');
  expect(loaded, loaded.err).toMatchObject({ code: 0, out: '_kofn\ndefined', err: '' });
  const offered = await zsh('compadd() { print -r -- "$@" }\nwords=(kofn li); CURRENT=2; _kofn\nwords=(kofn completion ""); CURRENT=3; _kofn');
  expect(offered.code, offered.err).toBe(0);
  const [commands, shells] = offered.out.split('\n');
  expect(commands!.split(' ')).toEqual(expect.arrayContaining(['--', 'login', 'protect', 'retrieve', 'link', 'check', 'completion', '--help']));
  expect(shells).toBe('-- bash zsh');
});

test('a corrupt share is routed around and named: retrieve is byte-identical and says which relay sent bad data', async () => {
  const f = makeFile('corrupt-share.bin', 3 * 1024 * 1024 + 7);
  const p = await kofn(['protect', f.path, '-k', '3', '--servers', ALL(), '--json']);
  expect(p.code, p.stderr).toBe(0);
  const [{ fileId }] = (JSON.parse(p.stdout.toString()) as { files: Array<{ fileId: string }> }).files as [{ fileId: string }];
  // relay-1's share of chunk 2 is damaged on its disk (one bit, as faults.spec.ts does for the browser).
  const bad = stack.relayProcs[0]!;
  const dir = join(bad.dataDir, 'chunks', fileId.slice(0, 2), fileId);
  const chunk = join(
    dir,
    readdirSync(dir).find((n) => n.startsWith('2.'))!
  );
  const bytes = readFileSync(chunk);
  bytes[bytes.length - 100]! ^= 0x40;
  writeFileSync(chunk, bytes);
  // Steer the CLI to relay-1 without timing: relay-4 and relay-5 are paused (SIGSTOP) until its pings to them
  // have timed out (its 3 s), so they rank last (retrieve.ts sorts by ping); relays 1-3 are the k it reads
  // first. They go on again (SIGCONT) then, and serve the fourth share that routes around relay-1.
  const paused = pauseWhileRanking(stack.relayProcs.slice(3));
  try {
    const out = join(work, 'corrupt-share.out');
    const r = await kofn(['retrieve', 'corrupt-share.bin', '-o', out], { onSpawn: paused.onSpawn });
    expect(r.code, r.stderr).toBe(0);
    expect(sha(readFileSync(out))).toBe(f.sha256);
    expect(r.stderr).toContain(`bad data from: ${bad.name} (reported)`);
    rmSync(out);
  } finally {
    paused.release();
  }
});

test('a relay that dies before protect is replaced by a spare; relays killed down to k: retrieval still succeeds, below k it fails clearly and leaves no file', async () => {
  const f = makeFile('down-to-k.bin', 4 * 1024 * 1024 + 5);
  expect((await kofn(['protect', f.path, '-k', '3', '--servers', ALL()])).code).toBe(0);

  // relay-2 dies; the coordinator still lists it online (heartbeats time out after 30 s), so a protect
  // placed on it fails there and must continue on the spare relay-5.
  const [r1, r2, r3, r4, r5] = [0, 1, 2, 3, 4].map((i) => stack.relayProcs[i]!) as [RelayProc, RelayProc, RelayProc, RelayProc, RelayProc];
  await killRelay(r2);
  const g = makeFile('failover.bin', 3 * 1024 * 1024 + 1);
  const p = await kofn(['protect', g.path, '-k', '3', '--servers', [r1, r2, r3, r4].map((r) => r.name).join(','), '--json']);
  expect(p.code, p.stderr).toBe(0);
  const [info] = (JSON.parse(p.stdout.toString()) as { files: Array<{ replacedBy: string[] }> }).files;
  expect(info!.replacedBy).toEqual([r5.name]);
  const back = join(work, 'failover.out');
  expect((await kofn(['retrieve', 'failover.bin', '-o', back])).code).toBe(0);
  expect(sha(readFileSync(back))).toBe(g.sha256);

  // down-to-k.bin is on all five: with relay-2 gone, stop relay-1 too: three left, k = 3.
  await killRelay(r1);
  const out = join(work, 'down-to-k.out');
  const r = await kofn(['retrieve', 'down-to-k.bin', '-o', out, '--json']);
  expect(r.code, r.stderr).toBe(0);
  expect(sha(readFileSync(out))).toBe(f.sha256);
  rmSync(out);
  await killRelay(r4);
  const below = await kofn(['retrieve', 'down-to-k.bin', '-o', out]);
  expectCleanError(below, 'RELAYS_OFFLINE', 4);
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(work).filter((n) => n.endsWith('.kofn-partial'))).toEqual([]);
});
