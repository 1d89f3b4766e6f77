/**
 * The `kofn` command with compact mode (issue #23: `kofn protect --compact`) and multi-level layouts (issue
 * #21 part 1, local groups: `kofn protect --layout "K; KG:server,...; ..."`), on a stack of its own (a
 * coordinator on PGlite and seven disk relays as processes), the real launcher run as a child process.
 *
 * Compact files: round trips 0 B to 6 MiB from files and pipes, each relay storing about 1/k of the file; a
 * corrupt fragment routed around and its relay named; a protect killed with kill -9 continues on the
 * unchanged file; interop with Chromium both ways. Tree files (2 of 3 groups: 2 of 3, 2 of 2, 2 of 2): round
 * trips, interop (Chromium retrieves the CLI's), bad layouts refused with their codes and nothing stored,
 * and retrieval with a whole group down and a relay down in another, failing clearly one relay later.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect, ADMIN } from '../fixtures.js';
import { killRelay, type RelayProc, type RunningStack } from '../stack.js';
import { expectCleanError, KOFN_BIN, kofnIn, randomFile, sha256Hex, signedInCliStack } from '../cli-run.js';
import type { NodeRun } from '../run-node.js';
import { chooseSharing, opfsSha256, protectThroughUi, retrieveThroughUi, saveToOpfs } from '../helpers.js';
import { pauseWhileRanking } from '../paused-ranking.js';

test.describe.configure({ mode: 'serial', timeout: 240_000 });

const MiB = 1024 * 1024;
const work = mkdtempSync(join(tmpdir(), 'kofn-cli-modes-e2e-'));
const configDir = join(work, 'config');
let stack: RunningStack;
const relay = (i: number): RelayProc => stack.relayProcs[i - 1]!;
/** Compact files go on relays 3..7 with k = 3 (relays 1 and 2 are only in the tree's first group). */
const COMPACT_SERVERS = () => [3, 4, 5, 6, 7].map((i) => relay(i).name).join(',');
/** 2 of 3 groups: a = 2 of relays 1-3, b = 2 of relays 4-5, c = 2 of relays 6-7. */
const LAYOUT = () => `2; a=2:${[1, 2, 3].map((i) => relay(i).name).join(',')}; b=2:${relay(4).name},${relay(5).name}; c=2:${relay(6).name},${relay(7).name}`;

type Run = NodeRun;
const kofn = kofnIn(work, configDir);
const sha = sha256Hex;
const makeFile = (name: string, size: number) => randomFile(work, name, size);

interface Protected {
  fileId: string;
  k: number;
  n: number;
  size: number;
  mode: string;
  groups?: Array<{ k: number; n: number; label?: string }>;
  resumedAfter?: number;
}
const protectedInfo = (r: Run) => (JSON.parse(r.stdout.toString()) as { files: Protected[] }).files[0]!;
const listed = async () => (JSON.parse((await kofn(['ls', '--json'])).stdout.toString()) as { files: Array<{ id: string; name: string; mode: string; k: number; n: number; status: string }> }).files;

/** The share chunk files one relay holds of a file (disk store: chunks/<2 hex>/<file id>/<index>.<digest>). */
function chunkFiles(r: RelayProc, fileId: string): string[] {
  const dir = join(r.dataDir, 'chunks', fileId.slice(0, 2), fileId);
  return existsSync(dir) ? readdirSync(dir).map((n) => join(dir, n)) : [];
}

async function retrieveToFile(name: string): Promise<{ r: Run; out: string }> {
  const out = join(work, `back-${name}`);
  rmSync(out, { force: true });
  return { r: await kofn(['retrieve', name, '-o', out, '--json']), out };
}

test.beforeAll(async () => {
  test.setTimeout(180_000);
  // Elite: more than 5 relays. Killed relays stay down (no restart by the launcher) for the last test.
  stack = await signedInCliStack({ relays: 7, tier: 'Elite', tolerateRelayExits: true, env: { KOFN_STACK_RESTART_DELAY_MS: '600000' } }, kofn);
});

test.afterAll(async () => {
  await stack?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('compact: files of 0 B to 6 MiB round-trip byte-identical, from files and through pipes; each relay stores about 1/k of the file', async () => {
  // 0 B, one byte, a chunk and a byte (the main thread encodes), and past 4 MiB (the codec workers do).
  for (const size of [0, 1, MiB + 1, 6 * MiB + 3]) {
    const name = `compact-${size}.bin`;
    const f = makeFile(name, size);
    const p = await kofn(['protect', f.path, '--compact', '-k', '3', '--servers', COMPACT_SERVERS(), '--json']);
    expect(p.code, p.stderr).toBe(0);
    const info = protectedInfo(p);
    expect(info).toMatchObject({ k: 3, n: 5, size, mode: 'compact' });
    const { r, out } = await retrieveToFile(name);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(readFileSync(out))).toBe(f.sha256);
    if (size > MiB) {
      // Compact mode's point: about size/k per relay (fragments of ceil((chunk + 16) / 3) bytes plus 40-byte
      // headers and the metadata chunk), where a Shamir file puts the whole size on every relay.
      for (const i of [3, 4, 5, 6, 7]) {
        const stored = chunkFiles(relay(i), info.fileId).reduce((s, path) => s + statSync(path).size, 0);
        expect(stored, relay(i).name).toBeGreaterThan(size / 3);
        expect(stored, relay(i).name).toBeLessThan(size / 3 + 64 * 1024);
      }
    }
  }
  expect((await listed()).filter((x) => x.name.startsWith('compact-')).map((x) => x.mode)).toEqual(['compact', 'compact', 'compact', 'compact']);

  // Through pipes: standard input streamed with --size, and retrieved to standard output.
  const piped = randomBytes(5 * MiB + 11);
  const p = await kofn(['protect', '-', '--name', 'compact-piped.bin', '--size', String(piped.length), '--compact', '-k', '3', '--servers', COMPACT_SERVERS(), '--json'], { input: piped });
  expect(p.code, p.stderr).toBe(0);
  expect(protectedInfo(p).mode).toBe('compact');
  const r = await kofn(['retrieve', 'compact-piped.bin', '-o', '-']);
  expect(r.code, r.stderr).toBe(0);
  expect(sha(r.stdout)).toBe(sha(piped));
});

test('compact: a corrupt fragment is routed around and its relay named; the file comes back byte-identical', async () => {
  const f = makeFile('compact-corrupt.bin', 3 * MiB + 7);
  const p = await kofn(['protect', f.path, '--compact', '-k', '3', '--servers', COMPACT_SERVERS(), '--json']);
  expect(p.code, p.stderr).toBe(0);
  const { fileId } = protectedInfo(p);
  // One bit of relay-3's fragment of chunk 2 flipped on its disk (as faults.spec.ts does for the browser).
  const bad = relay(3);
  const chunk = chunkFiles(bad, fileId).find((path) => path.split('/').pop()!.startsWith('2.'))!;
  const bytes = readFileSync(chunk);
  bytes[bytes.length - 100]! ^= 0x40;
  writeFileSync(chunk, bytes);
  // As cli.spec.ts does: relays 6 and 7 are paused until the CLI's pings to them have timed out, so relays 3-5
  // are the k it reads first; they go on again then, and serve the fourth fragment that routes around relay-3.
  const paused = pauseWhileRanking([relay(6), relay(7)]);
  try {
    const out = join(work, 'compact-corrupt.out');
    const r = await kofn(['retrieve', 'compact-corrupt.bin', '-o', out], { onSpawn: paused.onSpawn });
    expect(r.code, r.stderr).toBe(0);
    expect(sha(readFileSync(out))).toBe(f.sha256);
    expect(r.stderr).toContain(`bad data from: ${bad.name} (reported)`);
  } finally {
    paused.release();
  }
});

const uploadsDir = () => join(configDir, 'uploads');
const chunkLines = () =>
  existsSync(uploadsDir())
    ? readdirSync(uploadsDir())
        .filter((n) => n.endsWith('.log'))
        .reduce((sum, n) => sum + readFileSync(join(uploadsDir(), n), 'utf8').split('\n').filter(Boolean).length, 0)
    : 0;

test('compact: a protect killed with kill -9 mid-transfer continues on the unchanged file, byte-identical', async () => {
  const f = makeFile('compact-resume.bin', 40 * MiB + 5);
  const args = ['protect', f.path, '--compact', '-k', '3', '--servers', COMPACT_SERVERS(), '--json'];
  const child = spawn(process.execPath, [KOFN_BIN, ...args], { cwd: work, env: { ...process.env, KOFN_CONFIG_DIR: configDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  let exited = false;
  const closed = new Promise<NodeJS.Signals | null>((res) => child.once('close', (_c, signal) => res(signal)));
  void closed.then(() => (exited = true));
  await expect.poll(() => exited || chunkLines() >= 8, { timeout: 120_000, intervals: [20] }).toBe(true);
  expect(exited, `kofn finished before it could be killed: ${stderr}`).toBe(false);
  child.kill('SIGKILL');
  expect(await closed).toBe('SIGKILL');

  const again = await kofn(args);
  expect(again.code, again.stderr).toBe(0);
  const info = protectedInfo(again);
  expect(info.mode).toBe('compact');
  // It continued after what every relay had, under the key it started with (the file is unchanged).
  expect(info.resumedAfter).toBeGreaterThanOrEqual(7);
  const { r, out } = await retrieveToFile('compact-resume.bin');
  expect(r.code, r.stderr).toBe(0);
  expect(sha(readFileSync(out))).toBe(f.sha256);
  rmSync(out);

  // A file changed since the interrupted run starts a new upload, never the old one's key: its resume key
  // differs (size, date), so nothing is continued.
  const g = makeFile('compact-changed.bin', 40 * MiB + 5);
  const gArgs = ['protect', g.path, '--compact', '-k', '3', '--servers', COMPACT_SERVERS(), '--json'];
  const child2 = spawn(process.execPath, [KOFN_BIN, ...gArgs], { cwd: work, env: { ...process.env, KOFN_CONFIG_DIR: configDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let exited2 = false;
  const closed2 = new Promise<void>((res) => child2.once('close', () => res()));
  void closed2.then(() => (exited2 = true));
  await expect.poll(() => exited2 || chunkLines() >= 4, { timeout: 120_000, intervals: [20] }).toBe(true);
  child2.kill('SIGKILL');
  await closed2;
  writeFileSync(g.path, randomBytes(40 * MiB + 5));
  // Not continued: a new upload is reserved, and the interrupted one still holds the name (until it expires
  // or is removed), so the new bytes are refused rather than encrypted under the old key.
  expectCleanError(await kofn(gArgs), 'FILENAME_IN_USE', 2);
  expect((await listed()).filter((x) => x.name === 'compact-changed.bin').map((x) => x.status)).toEqual(['reserved']);
});

test('interop with the web app: Chromium retrieves the CLI compact and tree files, the CLI retrieves a compact file Chromium protected; byte-identical', async ({ browser }) => {
  const compact = makeFile('cli-compact-for-web.bin', 2 * MiB + 31);
  expect((await kofn(['protect', compact.path, '--compact', '-k', '3', '--servers', COMPACT_SERVERS()])).code).toBe(0);
  const tree = makeFile('cli-tree-for-web.bin', 2 * MiB + 17);
  const t = await kofn(['protect', tree.path, '--layout', LAYOUT()]);
  expect(t.code, t.stderr).toBe(0);

  const context = await browser.newContext({ baseURL: stack.url });
  const page = await context.newPage();
  try {
    const login = await page.request.post('/api/login', { data: { email: ADMIN.email, password: ADMIN.password }, headers: { Origin: stack.url } });
    expect(login.status()).toBe(200);
    await saveToOpfs(page);
    await page.goto('/');
    for (const f of [compact, tree]) {
      const name = f.path.split('/').pop()!;
      await retrieveThroughUi(page, name);
      await expect(
        page
          .getByTestId('transfer')
          .filter({ hasText: `Retrieving ${name}` })
          .first()
      ).toHaveAttribute('data-status', 'done');
      expect(await opfsSha256(page, name)).toBe(f.sha256);
    }

    await chooseSharing(page, 3, 5);
    await page.getByTestId('mode-compact').check();
    const fromBrowser = makeFile('web-compact-for-cli.bin', 3 * MiB + 333);
    await protectThroughUi(page, fromBrowser, 'web-compact-for-cli.bin');
    expect((await listed()).find((x) => x.name === 'web-compact-for-cli.bin')?.mode).toBe('compact');
    const { r, out } = await retrieveToFile('web-compact-for-cli.bin');
    expect(r.code, r.stderr).toBe(0);
    expect(sha(readFileSync(out))).toBe(fromBrowser.sha256);
  } finally {
    await context.close();
  }
});

test('layout: a tree file (2 of 3 groups; 2 of 3, 2 of 2, 2 of 2) round-trips from a file and through pipes; bad layouts are refused with their codes and store nothing', async () => {
  const f = makeFile('tree.bin', 6 * MiB + 9);
  const p = await kofn(['protect', f.path, '--layout', LAYOUT(), '--json']);
  expect(p.code, p.stderr).toBe(0);
  const info = protectedInfo(p);
  expect(info).toMatchObject({
    k: 2,
    n: 7,
    mode: 'shamir',
    groups: [
      { k: 2, n: 3, label: 'a' },
      { k: 2, n: 2, label: 'b' },
      { k: 2, n: 2, label: 'c' }
    ]
  });
  // One share chunk per chunk on every relay of the tree (metadata + 7 data chunks).
  for (let i = 1; i <= 7; i++) expect(chunkFiles(relay(i), info.fileId), relay(i).name).toHaveLength(8);
  const { r, out } = await retrieveToFile('tree.bin');
  expect(r.code, r.stderr).toBe(0);
  expect(sha(readFileSync(out))).toBe(f.sha256);

  const piped = randomBytes(MiB + 5);
  const pp = await kofn(['protect', '-', '--name', 'tree-piped.bin', '--layout', LAYOUT(), '--quiet'], { input: piped });
  expect(pp.code, pp.stderr).toBe(0);
  const back = await kofn(['retrieve', 'tree-piped.bin', '-o', '-']);
  expect(back.code, back.stderr).toBe(0);
  expect(sha(back.stdout)).toBe(sha(piped));

  const before = (await listed()).length;
  const [r1, r2, r3, r4] = [1, 2, 3, 4].map((i) => relay(i).name);
  const bad: Array<[string[], string]> = [
    [['--layout', `2; 2:${r1},${r2}; 2:${r2},${r3}`], 'LAYOUT_RELAY_TWICE'],
    [['--layout', `2; 3:${r1},${r2}; 2:${r3},${r4}`], 'LAYOUT_GROUP_THRESHOLD'],
    [['--layout', `3; 2:${r1},${r2}; 2:${r3},${r4}`], 'LAYOUT_TOP_THRESHOLD'],
    [['--layout', `2; 2:; 2:${r3},${r4}`], 'LAYOUT_EMPTY_GROUP'],
    [['--layout', `2; 2 ${r1},${r2}; 2:${r3},${r4}`], 'LAYOUT_INVALID'],
    [['--layout', `2; 2:${r1},relay-99; 2:${r3},${r4}`], 'UNKNOWN_SERVER'],
    [['--layout', LAYOUT(), '--compact'], 'LAYOUT_NOT_SUPPORTED'],
    [['--layout', LAYOUT(), '-k', '2'], 'CLI_USAGE']
  ];
  for (const [args, code] of bad) expectCleanError(await kofn(['protect', f.path, '--name', 'tree-bad.bin', ...args]), code, 2);
  expect((await listed()).length).toBe(before);
});

test('layout: with one whole group down and a relay down in another, tree and compact files still retrieve; one relay more and the tree fails clearly, leaving nothing', async () => {
  const f = makeFile('tree-down.bin', 5 * MiB + 1);
  expect((await kofn(['protect', f.path, '--layout', LAYOUT(), '--quiet'])).code).toBe(0);
  const c = makeFile('compact-down.bin', 5 * MiB + 2);
  expect((await kofn(['protect', c.path, '--compact', '-k', '3', '--servers', COMPACT_SERVERS(), '--quiet'])).code).toBe(0);
  // Group c (relays 6 and 7) is gone, and relay 1 of group a: groups a (2 of relays 2-3) and b are left.
  for (const i of [6, 7, 1]) await killRelay(relay(i));
  for (const [name, file] of [
    ['tree-down.bin', f],
    ['compact-down.bin', c]
  ] as const) {
    const { r, out } = await retrieveToFile(name);
    expect(r.code, `${name}: ${r.stderr}`).toBe(0);
    expect(sha(readFileSync(out))).toBe(file.sha256);
    rmSync(out);
  }
  // Relay 2 too: group a is down to one relay, only group b is left, and K = 2.
  await killRelay(relay(2));
  const out = join(work, 'tree-down.out');
  const below = await kofn(['retrieve', 'tree-down.bin', '-o', out]);
  expectCleanError(below, 'RELAYS_OFFLINE', 4);
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(work).filter((n) => n.endsWith('.kofn-partial'))).toEqual([]);
});
