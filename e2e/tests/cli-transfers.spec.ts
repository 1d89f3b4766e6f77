/**
 * The `kofn` command-line client's transfers (issue #20) against a real stack of its own (coordinator on PGlite,
 * five disk relays as processes), split from cli.spec.ts so the two run in separate lanes: round trips from files
 * across the chunk edges and through pipes, memory that stays flat through pipes both ways, resuming a protect and
 * a retrieve killed with kill -9, and Ctrl-C mid-transfer. The launcher `shared/bin/kofn.mjs` runs as a child
 * process, as a user's shell would.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect } from '../fixtures.js';
import type { RunningStack } from '../stack.js';
import { expectCleanError, KOFN_BIN, kofnIn, randomFile, sha256Hex, signedInCliStack } from '../cli-run.js';
import type { NodeRun } from '../run-node.js';

test.describe.configure({ mode: 'serial', timeout: 240_000 });

const BIN = KOFN_BIN;
const work = mkdtempSync(join(tmpdir(), 'kofn-cli-transfers-e2e-'));
const configDir = join(work, 'config');
let stack: RunningStack;
const ALL = () => stack.relayProcs.map((r) => r.name).join(',');

type Run = NodeRun;
const kofn = kofnIn(work, configDir);
const sha = sha256Hex;
const makeFile = (name: string, size: number) => randomFile(work, name, size);

test.beforeAll(async () => {
  // Starting a stack of its own (a coordinator and relays) can take over a minute on a loaded 2-core machine.
  test.setTimeout(180_000);
  stack = await signedInCliStack({ relays: 5, tier: 'Pro', tolerateRelayExits: true }, kofn);
});

test.afterAll(async () => {
  await stack?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('protect and retrieve round trips from files, 0 B to 33 MiB, byte-identical', async () => {
  // Issue #20 asks for round trips from 0 B to 256 MiB: the chunk edges here, from files on disk; 256 MiB goes
  // through pipes both ways in the flat-memory test below (a second 256 MiB trip from a file took 100 s of a
  // CPU-bound CI run and proved nothing that 33 MiB, more chunks than any window in flight, does not).
  test.setTimeout(240_000);
  const MiB = 1024 * 1024;
  for (const size of [0, 1, MiB - 1, MiB, MiB + 1, 3 * MiB + 17, 33 * MiB]) {
    const name = `rt-${size}.bin`;
    const f = makeFile(name, size);
    const p = await kofn(['protect', f.path, '-k', '3', '--servers', ALL(), '--json']);
    expect(p.code, p.stderr).toBe(0);
    const [info] = (JSON.parse(p.stdout.toString()) as { files: Array<{ fileId: string; k: number; n: number; size: number }> }).files;
    expect(info).toMatchObject({ k: 3, n: 5, size });
    const out = join(work, `back-${name}`);
    const r = await kofn(['retrieve', name, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(readFileSync(out))).toBe(f.sha256);
    rmSync(out);
    rmSync(f.path);
  }
});

test('through pipes: stdin with and without --size, and retrieve -o - to stdout', async () => {
  const data = randomBytes(5 * 1024 * 1024 + 3);
  const spooled = await kofn(['protect', '-', '--name', 'pipe-spooled.tar', '-k', '2']);
  expect(spooled.code, spooled.stderr).toBe(0); // empty stdin: a 0-byte file
  const a = await kofn(['protect', '-', '--name', 'pipe-a.tar', '-k', '3'], { input: data });
  expect(a.code, a.stderr).toBe(0);
  const b = await kofn(['protect', '-', '--name', 'pipe-b.tar', '--size', String(data.length), '-k', '3'], { input: data });
  expect(b.code, b.stderr).toBe(0);
  for (const name of ['pipe-a.tar', 'pipe-b.tar']) {
    const r = await kofn(['retrieve', name, '-o', '-']);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(r.stdout)).toBe(sha(data));
  }
  // A reader that stops early (`| head -c 10`): kofn stops, exits non-zero, prints no stack trace.
  const early = await new Promise<Run>((res) => {
    const child = spawn(process.execPath, [BIN, 'retrieve', 'pipe-a.tar', '-o', '-'], { cwd: work, env: { ...process.env, KOFN_CONFIG_DIR: configDir } });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    child.once('close', (code) => res({ code, stdout: Buffer.alloc(0), stderr: err }));
  });
  expect(early.code).not.toBe(0);
  expect(early.stderr).not.toMatch(/\n\s+at /);
  // --size that does not match the input is refused, and nothing stays reserved.
  const wrong = await kofn(['protect', '-', '--name', 'pipe-wrong.tar', '--size', String(data.length + 1)], { input: data });
  expectCleanError(wrong, 'FILE_UNREADABLE', 2);
  const ls = JSON.parse((await kofn(['ls', '--json'])).stdout.toString()) as { files: Array<{ name: string; status: string }> };
  expect(ls.files.filter((f) => f.name === 'pipe-wrong.tar' && f.status !== 'deleting')).toEqual([]);
  // No temporary spool copy is left behind.
  expect(readdirSync(tmpdir()).filter((n) => n.startsWith('kofn-stdin-'))).toEqual([]);
});

/** Peak resident memory of a process so far (VmHWM, kB in /proc), 0 once it is gone. */
function peakRssBytes(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Runs kofn with `feed` writing its stdin and `drain` reading its stdout; answers its exit, its peak RSS
 * (the whole process: every thread) and its peak RSS when half the run's time had passed (`halfway`): a
 * memory that grew with the bytes sent would show as a peak well above the halfway one.
 */
async function streamed(
  args: string[],
  feed: (stdin: NodeJS.WritableStream) => Promise<void>,
  drain: (chunk: Buffer) => void
): Promise<{ code: number | null; stderr: string; peak: number; halfway: number }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: work, env: { ...process.env, KOFN_CONFIG_DIR: configDir }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let peak = 0;
  const samples: Array<{ at: number; peak: number }> = [];
  const t0 = performance.now();
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdout.on('data', drain);
  child.stdin.on('error', () => undefined);
  const sampler = setInterval(() => {
    peak = Math.max(peak, peakRssBytes(child.pid!));
    samples.push({ at: performance.now() - t0, peak });
  }, 100);
  const closed = new Promise<number | null>((res) => child.once('close', res));
  child.once('exit', () => clearInterval(sampler));
  await feed(child.stdin);
  child.stdin.end();
  const code = await closed;
  const half = (performance.now() - t0) / 2;
  const halfway = samples.filter((x) => x.at <= half).at(-1)?.peak ?? 0;
  return { code, stderr, peak, halfway };
}

/**
 * The size of the flat-memory round trip, in MiB: 256 by default, the largest round trip issue #20 asks for.
 * `npm test` runs 128 (KOFN_E2E_CLI_PIPE_MIB; e2e/run-all.mjs): each half is then 64 chunks of 1 MiB, so a
 * buffer kept per chunk still adds over one and a half times the slack below, and the test no longer takes
 * 5 of the CPU-bound CI run's minutes.
 */
const PIPE_MIB = Number(process.env.KOFN_E2E_CLI_PIPE_MIB ?? 256);

test(`memory stays flat: ${PIPE_MIB} MiB through pipes both ways, byte-identical, with peak RSS under 200 MB, the second half adding under 40 MiB to the first`, async () => {
  // Twice the size through the pipes; with (3,5), 5/3 of it go up to the relays as shares and the size comes back.
  test.setTimeout(480_000);
  const MiB = 1024 * 1024;
  // Memory that grew with the size would show here (issue #20 item 1). At 256 MiB each half is 128 chunks of
  // 1 MiB: a buffer kept per chunk would add three times the slack.
  const size = PIPE_MIB * MiB;
  const sent = createHash('sha256');
  const p = await streamed(
    ['protect', '-', '--name', 'flat.bin', '--size', String(size), '-k', '3', '--servers', ALL()],
    async (stdin) => {
      for (let i = 0; i < size / MiB; i++) {
        const piece = randomBytes(MiB);
        sent.update(piece);
        if (!stdin.write(piece)) await new Promise((r) => stdin.once('drain', r));
      }
    },
    () => undefined
  );
  expect(p.code, p.stderr).toBe(0);
  const got = createHash('sha256');
  let length = 0;
  const r = await streamed(
    ['retrieve', 'flat.bin', '-o', '-'],
    async () => undefined,
    (b) => {
      got.update(b);
      length += b.length;
    }
  );
  expect(r.code, r.stderr).toBe(0);
  expect(length).toBe(size);
  expect(got.digest('hex')).toBe(sent.digest('hex'));
  const mib = (x: number) => (x / MiB).toFixed(0);
  console.log(`kofn peak RSS, ${PIPE_MIB} MiB through a pipe: protect ${mib(p.peak)} MiB (${mib(p.halfway)} MiB halfway), retrieve ${mib(r.peak)} MiB (${mib(r.halfway)} MiB halfway)`);
  // The bound of issue #20 (200 MB for the whole process, workers included; the default runs them) ...
  expect(p.halfway).toBeGreaterThan(0);
  expect(r.halfway).toBeGreaterThan(0);
  expect(p.peak).toBeLessThan(200 * 1000 * 1000);
  expect(r.peak).toBeLessThan(200 * 1000 * 1000);
  // ... and flat: the second half of the bytes adds little to the peak of the first. The slack is the
  // noise measured run to run on 2 loaded cores (collections and malloc reuse, 10-25 MiB); memory that
  // grew with the size by as little as 1 MiB in 6 would exceed it. 10 GiB by hand: see the README.
  expect(p.peak - p.halfway).toBeLessThan(40 * MiB);
  expect(r.peak - r.halfway).toBeLessThan(40 * MiB);
});

/** Starts `kofn args` and kill -9s it once `ready()` says the transfer is well under way; resolves with its exit signal. */
async function killMidway(args: string[], ready: () => boolean): Promise<{ signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: work, env: { ...process.env, KOFN_CONFIG_DIR: configDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const closed = new Promise<NodeJS.Signals | null>((res) => child.once('close', (_code, signal) => res(signal)));
  let exited = false;
  void closed.then(() => (exited = true));
  await expect.poll(() => exited || ready(), { timeout: 120_000, intervals: [20] }).toBe(true);
  expect(exited, `kofn finished before it could be killed: ${stderr}`).toBe(false);
  child.kill('SIGKILL');
  return { signal: await closed, stderr };
}

const uploadsDir = () => join(configDir, 'uploads');
const chunkLines = () => {
  if (!existsSync(uploadsDir())) return 0;
  return readdirSync(uploadsDir())
    .filter((n) => n.endsWith('.log'))
    .reduce((sum, n) => sum + readFileSync(join(uploadsDir(), n), 'utf8').split('\n').filter(Boolean).length, 0);
};

test('resume: protect killed with kill -9 mid-transfer continues when run again; the file is byte-identical and the relays hold exactly its chunks', async () => {
  const MiB = 1024 * 1024;
  const f = makeFile('resume-protect.bin', 48 * MiB + 5);
  const args = ['protect', f.path, '-k', '3', '--servers', ALL(), '--json'];
  const killed = await killMidway(args, () => chunkLines() >= 12);
  expect(killed.signal).toBe('SIGKILL');
  const listed = (JSON.parse((await kofn(['ls', '--json'])).stdout.toString()) as { files: Array<{ id: string; name: string; status: string }> }).files.filter((x) => x.name === 'resume-protect.bin');
  expect(listed.map((x) => x.status)).toEqual(['reserved']);
  // The state is private, as the session is.
  expect(statSync(uploadsDir()).mode & 0o077).toBe(0);
  for (const n of readdirSync(uploadsDir())) expect(statSync(join(uploadsDir(), n)).mode & 0o077, n).toBe(0);

  const again = await kofn(args);
  expect(again.code, again.stderr).toBe(0);
  const [info] = (JSON.parse(again.stdout.toString()) as { files: Array<{ fileId: string; resumedAfter?: number }> }).files;
  // It continued after what every relay had (at least the 12 chunks seen logged, less the metadata chunk), not from zero.
  expect(info!.fileId).toBe(listed[0]!.id);
  expect(info!.resumedAfter).toBeGreaterThanOrEqual(11);
  expect(readdirSync(uploadsDir())).toEqual([]);

  // Every relay holds exactly chunk 0 (metadata) and the 49 data chunks: nothing from the killed run's tail.
  for (const relay of stack.relayProcs) {
    const chunks = readdirSync(join(relay.dataDir, 'chunks', info!.fileId.slice(0, 2), info!.fileId));
    expect(chunks.length, relay.name).toBe(50);
  }
  const out = join(work, 'resume-protect.out');
  const r = await kofn(['retrieve', 'resume-protect.bin', '-o', out]);
  expect(r.code, r.stderr).toBe(0);
  expect(sha(readFileSync(out))).toBe(f.sha256);
  rmSync(out);
});

test('resume: retrieve killed with kill -9 mid-transfer continues from its hidden part; byte-identical, no part left', async () => {
  const MiB = 1024 * 1024;
  const f = makeFile('resume-retrieve.bin', 48 * MiB + 999);
  expect((await kofn(['protect', f.path, '-k', '3', '--servers', ALL()])).code).toBe(0);
  const dir = mkdtempSync(join(work, 'resume-out-'));
  const out = join(dir, 'resume-retrieve.bin');
  const partSize = () => {
    const part = readdirSync(dir).find((n) => n.endsWith('.kofn-partial'));
    return part ? statSync(join(dir, part)).size : 0;
  };
  const killed = await killMidway(['retrieve', 'resume-retrieve.bin', '-o', out], () => partSize() >= 8 * MiB);
  expect(killed.signal).toBe('SIGKILL');
  expect(existsSync(out)).toBe(false);
  const before = partSize();
  expect(before).toBeGreaterThanOrEqual(8 * MiB);

  const again = await kofn(['retrieve', 'resume-retrieve.bin', '-o', out, '--json']);
  expect(again.code, again.stderr).toBe(0);
  const [info] = (JSON.parse(again.stdout.toString()) as { files: Array<{ resumedAt?: number; size: number }> }).files;
  expect(info!.resumedAt).toBeGreaterThanOrEqual(8 * MiB);
  expect(info!.resumedAt! % MiB).toBe(0);
  expect(info!.size).toBe(f.data.length);
  expect(sha(readFileSync(out))).toBe(f.sha256);
  expect(readdirSync(dir)).toEqual(['resume-retrieve.bin']);
});

test('Ctrl-C during protect exits 130 and leaves no file behind', async () => {
  // Standard input with --size streams: the test feeds part of it, waits until the upload is under way
  // (the reservation is listed), then interrupts, as a user pressing Ctrl-C mid-transfer.
  const size = 16 * 1024 * 1024;
  const child = spawn(process.execPath, [BIN, 'protect', '-', '--name', 'cancelled.bin', '--size', String(size), '-k', '3'], {
    cwd: work,
    env: { ...process.env, KOFN_CONFIG_DIR: configDir },
    stdio: ['pipe', 'pipe', 'pipe']
  });
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  child.stdin.on('error', () => undefined);
  const closed = new Promise<number | null>((res) => child.once('close', res));
  child.stdin.write(randomBytes(3 * 1024 * 1024));
  const listed = async () => {
    const files = (JSON.parse((await kofn(['ls', '--json'])).stdout.toString()) as { files: Array<{ name: string; status: string }> }).files;
    return files.find((x) => x.name === 'cancelled.bin')?.status;
  };
  await expect.poll(listed, { timeout: 20_000 }).toBe('reserved');
  child.kill('SIGINT');
  const code = await closed;
  expectCleanError({ code, stdout: Buffer.alloc(0), stderr: err }, 'CANCELLED', 130);
  // The reservation was removed (the coordinator's job deletes what relays stored).
  await expect.poll(listed, { timeout: 10_000 }).not.toBe('reserved');
  expect(['deleting', undefined]).toContain(await listed());
});
