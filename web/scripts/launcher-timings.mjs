#!/usr/bin/env node
/**
 * Measures the launcher behind `npm start` as a new user meets it (issue #22), on a fresh data folder and
 * free loopback ports, and checks what it promises:
 *   1. first start: builds what changed since the last build, then the time to the "Open http://..." line;
 *   2. second start, nothing changed: time to the URL (the goal: under 10 s), and how many lines come first;
 *   3. both print the licence status;
 *   4. with the web app's port taken by another program, it stops at once naming the port and how to choose
 *      another (KOFN_PORT).
 * Prints one line per measurement and exits 1 if a promise is broken. Run: `npm run bench:launcher`
 * (KOFN_TEST_BUILD=1 is passed on to a rebuild, so a build made for tests stays one).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBelow } from '@kofn/shared';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SECOND_START_GOAL_MS = 10_000;

function portFree(port) {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

async function freeBlock(count) {
  for (let i = 0; i < 50; i++) {
    const base = 30000 + randomBelow(9000);
    let ok = true;
    for (let p = base; p <= base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error('no free block of loopback ports');
}

/** Runs `npm start` (start.mjs) until it prints the URL (then stops it with Ctrl-C) or exits by itself. */
function startOnce(dataDir, port) {
  return new Promise((res) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [join(root, 'web/scripts/start.mjs'), '--data-dir', dataDir, '--port', String(port), '--relays', '3'], {
      cwd: root,
      env: { ...process.env, KOFN_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe']
    });
    const lines = [];
    let urlAt;
    // Whole lines only: a step line is written in two parts ("building web app…", then " done (…)").
    const partial = { out: '', err: '' };
    const onData = (stream) => (d) => {
      const parts = (partial[stream] + d.toString()).split('\n');
      partial[stream] = parts.pop();
      for (const line of parts) {
        if (line.trim() === '') continue;
        lines.push(line);
        if (urlAt === undefined && /^Open http/.test(line)) {
          urlAt = Date.now() - t0;
          // The status lines after the URL (relay list, Ctrl-C hint) are printed in the same write.
          setTimeout(() => child.kill('SIGINT'), 200);
        }
      }
    };
    child.stdout.on('data', onData('out'));
    child.stderr.on('data', onData('err'));
    child.once('exit', (code) => {
      const before = urlAt === undefined ? lines.length : lines.findIndex((l) => /^Open http/.test(l));
      res({ code, urlMs: urlAt, totalMs: Date.now() - t0, lines, linesBeforeUrl: before });
    });
  });
}

const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
  return ok ? 'ok' : 'FAILED';
};

const dataDir = mkdtempSync(join(tmpdir(), 'kofn-launcher-'));
try {
  process.stdout.write(
    `launcher timings: ${cpus().length} CPUs, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`
  );
  const port = await freeBlock(3);
  const first = await startOnce(dataDir, port);
  const licence = (r) => r.lines.some((l) => /^(Licence: |No licence file: )/.test(l));
  process.stdout.write(
    `first start:  URL after ${(first.urlMs / 1000).toFixed(1)} s, ${first.linesBeforeUrl} lines before it, licence line ${check(licence(first), 'first start prints the licence status')}\n`
  );
  for (const l of first.lines.slice(0, first.linesBeforeUrl + 1)) process.stdout.write(`    | ${l}\n`);
  const second = await startOnce(dataDir, port);
  const fast = second.urlMs !== undefined && second.urlMs < SECOND_START_GOAL_MS;
  process.stdout.write(
    `second start: URL after ${(second.urlMs / 1000).toFixed(1)} s (goal < ${SECOND_START_GOAL_MS / 1000} s: ${check(fast, 'second start under 10 s')}), ${second.linesBeforeUrl} lines before it, licence line ${check(licence(second), 'second start prints the licence status')}\n`
  );
  for (const l of second.lines.slice(0, second.linesBeforeUrl + 1)) process.stdout.write(`    | ${l}\n`);

  // Another program on the web app's port.
  const squatter = createServer();
  await new Promise((r) => squatter.listen(port, '127.0.0.1', r));
  const busy = await startOnce(dataDir, port);
  squatter.close();
  const named = busy.lines.some((l) => l.includes(`port ${port}`)) && busy.lines.some((l) => /KOFN_PORT=\d+ npm start/.test(l));
  process.stdout.write(
    `port in use:  exit ${busy.code} after ${(busy.totalMs / 1000).toFixed(1)} s, names the port and KOFN_PORT: ${check(busy.code !== 0 && named, 'a port in use is named with a way out')}\n`
  );
  for (const l of busy.lines) process.stdout.write(`    | ${l}\n`);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
if (failures.length > 0) {
  process.stderr.write(`launcher timings: FAILED: ${failures.join('; ')}\n`);
  process.exit(1);
}
