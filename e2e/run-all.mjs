#!/usr/bin/env node
/**
 * `npm test`: every check and suite of the project, in order, then one closing line with the totals:
 *   N passed, N failed, N skipped
 * Type checks, lint and format checks count as one check each; unit/integration suites (vitest) and the Playwright suite count
 * their tests from their JSON reports. A suite that dies without a report counts as one failure.
 * Exits non-zero if anything failed.
 *
 * PostgreSQL: the coordinator suites run on PGlite and on PostgreSQL. DATABASE_URL names the server; when
 * it is unset, the one CI sets up (postgres@127.0.0.1:5432, database test, trust auth) is tried. When none
 * answers, the suites' PostgreSQL variants are reported as skipped (counted in the totals, with the
 * reason), never silently left out.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPostgres, shown } from './find-postgres.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const reports = join(root, 'test-results');
rmSync(reports, { recursive: true, force: true });
mkdirSync(reports, { recursive: true });

const totals = { passed: 0, failed: 0, skipped: 0 };
/** The names of failed tests, printed in the summary so a CI log that keeps only its tail still names them. */
const failures = [];
const lines = [];

/**
 * Each command's CPU time (user + system, its whole process tree as it reaps it), from GNU time where the
 * machine has it: CI is CPU-bound on 2 cores (vmstat: 0% idle while the lanes run), so what a suite costs is
 * its CPU seconds more than its wall time, and the summary shows both. Docker containers' CPU is not counted
 * (the Docker daemon runs them).
 */
const GNU_TIME = '/usr/bin/time';
let timedRuns = 0;
function timed(cmd, args) {
  if (!existsSync(GNU_TIME)) return { cmd, args, cpu: () => undefined };
  const file = join(reports, `cpu-${++timedRuns}.txt`);
  return {
    cmd: GNU_TIME,
    args: ['-q', '-f', '%U %S', '-o', file, cmd, ...args],
    cpu: () => {
      try {
        const [user, sys] = readFileSync(file, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
        return Number.isFinite(user) && Number.isFinite(sys) ? Math.round(user + sys) : undefined;
      } catch {
        return undefined;
      }
    }
  };
}
/** " (wall W s, CPU C s)" for a summary line. */
const costs = (startedMs, cpu) => ` (wall ${Math.round((Date.now() - startedMs) / 1000)} s${cpu === undefined ? '' : `, CPU ${cpu} s`})`;

/**
 * Runs a command. The checks and unit suites run beside the Playwright suite (`lane` below), so their output
 * is held and printed whole, under its heading, when each one ends: Playwright's own lines stay readable.
 */
function run(command, commandArgs, cwd = root, env = process.env, heading = undefined) {
  const { cmd, args, cpu } = timed(command, commandArgs);
  return new Promise((res) => {
    if (heading === undefined) {
      const child = spawn(cmd, args, { cwd, stdio: 'inherit', env });
      child.on('exit', (code, signal) => res({ code: code ?? (signal ? 1 : 0), cpu: cpu() }));
      return;
    }
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env });
    const chunks = [];
    child.stdout.on('data', (d) => chunks.push(d));
    child.stderr.on('data', (d) => chunks.push(d));
    child.on('close', (code, signal) => {
      process.stdout.write(`\n=== ${heading} ===\n${Buffer.concat(chunks).toString()}`);
      res({ code: code ?? (signal ? 1 : 0), cpu: cpu() });
    });
  });
}

async function check(name, cmd, args, cwd, env) {
  const started = Date.now();
  const { code, cpu } = await run(cmd, args, cwd, env, name);
  if (code === 0) totals.passed += 1;
  else totals.failed += 1;
  lines.push(`${name}: ${code === 0 ? 'ok' : `FAILED (exit ${code})`}${costs(started, cpu)}`);
  return code === 0;
}

/**
 * A check whose script may print "SKIPPED" (with its reason) where it cannot run: counted as skipped.
 * Returns 'passed', 'failed' or 'skipped'.
 */
async function skippableCheck(name, cmd, args, env = process.env) {
  const started = Date.now();
  const command = timed(cmd, args);
  const { code, output } = await new Promise((res) => {
    const child = spawn(command.cmd, command.args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (c, signal) => {
      process.stdout.write(`\n=== ${name} ===\n${output}`);
      res({ code: c ?? (signal ? 1 : 0), output });
    });
  });
  const cpu = command.cpu();
  const took = `${Math.round((Date.now() - started) / 1000)} s${cpu === undefined ? '' : `, CPU ${cpu} s`}`;
  if (code === 0 && /SKIPPED/.test(output)) {
    totals.skipped += 1;
    lines.push(`${name}: skipped (${output.match(/SKIPPED:?(.*)/)?.[1]?.trim() ?? 'no reason given'})`);
    return 'skipped';
  }
  if (code === 0) {
    totals.passed += 1;
    // The compose check's Playwright run keeps one retry: a pass on it is named, as the e2e suite's are.
    // eslint-disable-next-line no-control-regex -- ANSI colour codes are control sequences by definition
    const flaky = /(\d+) flaky/.exec(output.replace(/\u001b\[[0-9;]*m/g, ''));
    lines.push(`${name}: ok (${took})${flaky ? `; ${flaky[1]} test(s) passed only on their retry (flaky): see its output above` : ''}`);
    return 'passed';
  }
  totals.failed += 1;
  lines.push(`${name}: FAILED (exit ${code}, ${took})`);
  return 'failed';
}

function readReport(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

async function vitest(pkg, env = process.env, note = '', args = [], part = '') {
  const name = `vitest ${pkg}${part ? ` (${part})` : ''}${note}`;
  const out = join(reports, `vitest-${pkg}${part ? `-${part.replace(/\W+/g, '-')}` : ''}.json`);
  const started = Date.now();
  const { code, cpu } = await run('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile=${out}`, ...args], join(root, pkg), env, name);
  const r = readReport(out);
  if (!r) {
    totals.failed += 1;
    lines.push(`${name}: no report (exit ${code})`);
    return;
  }
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A suite file that failed to load has no tests but still failed.
  const failed = r.numFailedTests + (code !== 0 && r.numFailedTests === 0 ? 1 : 0);
  for (const file of r.testResults ?? []) {
    for (const t of file.assertionResults ?? []) {
      if (t.status === 'failed') failures.push(`${name}: ${relative(root, file.name)} > ${t.fullName}${excerpt(t.failureMessages ?? [])}`);
    }
  }
  totals.passed += r.numPassedTests;
  totals.failed += failed;
  totals.skipped += skipped;
  lines.push(`${name}: ${r.numPassedTests} passed, ${failed} failed, ${skipped} skipped${costs(started, cpu)}`);
}

async function playwright() {
  const name = 'playwright e2e';
  process.stdout.write(`\n=== ${name} ===\n`);
  const out = join(reports, 'e2e-results.json');
  const started = Date.now();
  // One retry, here only (a plain `npx playwright test` keeps none): on this 2-core machine each of the last
  // three full runs lost one to three of its ~220 browser tests to load (a timeout, a port taken), each green
  // on its own. A test that passes on its retry is counted as passed and named below as flaky, with the
  // first failure's message, so a real intermittent bug still shows; one that fails twice fails the run.
  const { code, cpu } = await run('npx', ['playwright', 'test', '-c', 'playwright.config.ts', '--retries=1'], root, sizedEnv(process.env));
  const r = existsSync(out) ? readReport(out) : undefined;
  if (!r?.stats) {
    totals.failed += 1;
    lines.push(`${name}: no report (exit ${code})`);
    return;
  }
  collectPlaywrightFailures(r.suites ?? [], name);
  const flaky = [];
  collectPlaywrightFlaky(r.suites ?? [], flaky);
  const passed = r.stats.expected + r.stats.flaky;
  const failed = r.stats.unexpected + (code !== 0 && r.stats.unexpected === 0 ? 1 : 0);
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += r.stats.skipped;
  lines.push(`${name}: ${passed} passed, ${failed} failed, ${r.stats.skipped} skipped${costs(started, cpu)}`);
  if (flaky.length > 0) lines.push(`playwright e2e: ${flaky.length} passed only on their retry (flaky):\n  ${flaky.join('\n  ')}`);
}

function collectPlaywrightFlaky(suites, out) {
  for (const suite of suites) {
    for (const spec of suite.specs ?? []) {
      for (const t of spec.tests ?? []) {
        if (t.status !== 'flaky') continue;
        const first = (t.results?.[0]?.errors ?? []).map((e) => e.message ?? '');
        out.push(`${spec.file}:${spec.line} > ${spec.title}${excerpt(first).replaceAll('\n', '\n  ')}`);
      }
    }
    collectPlaywrightFlaky(suite.suites ?? [], out);
  }
}

/**
 * The first lines of a failure's messages (and, for Playwright, what the test printed), without colour codes:
 * a CI log that keeps only its tail then says why a test failed, not only which (a flaky e2e failure left
 * nothing else to go on).
 */
function excerpt(messages) {
  const text = messages
    .join('\n')
    // eslint-disable-next-line no-control-regex -- ANSI colour codes are control sequences by definition
    .replace(/\u001b\[[0-9;]*m/g, '')
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '')
    .slice(0, 14);
  return text.length === 0 ? '' : `\n    ${text.map((l) => l.slice(0, 200)).join('\n    ')}`;
}

function collectPlaywrightFailures(suites, name) {
  for (const suite of suites) {
    for (const spec of suite.specs ?? []) {
      for (const t of spec.tests ?? []) {
        if (t.status !== 'unexpected') continue;
        const last = t.results?.at(-1);
        const said = (last?.stdout ?? []).map((o) => o.text ?? '').filter(Boolean);
        const errors = (last?.errors ?? []).map((e) => e.message ?? '');
        // A test that failed on its retry too may have failed differently the first time (a retry once met what
        // its first attempt left on the shared stack): both are named.
        const first = (t.results?.length ?? 0) > 1 ? (t.results[0].errors ?? []).map((e) => e.message ?? '') : [];
        const before = first.length > 0 ? `\n    first attempt:${excerpt(first).replaceAll('\n', '\n  ')}\n    retry:` : '';
        failures.push(`${name}: ${spec.file}:${spec.line} > ${spec.title}${before}${excerpt([...errors, ...said])}`);
      }
    }
    collectPlaywrightFailures(suite.suites ?? [], name);
  }
}

/**
 * How `npm test` sizes its slow campaigns and large files and what it runs twice (the handbook: sized to prove
 * their point, the whole run well under 30 minutes on 2 cores; CI runs took 47 minutes with all at full size
 * and 38 minutes on a slower machine of the same size with the first four below as they are now). Each is read
 * by its test, whose default, used when it is run by hand, is the full size; a value set in the environment
 * wins. `npm run crash-campaign -w @kofn/web` runs the campaigns at full size.
 *   KOFN_DRAIN_FILES         files held by the drained relay (web drain.test.ts; issue #16 names 200)
 *   KOFN_CRASH_PHASE_TRIALS  coordinator kills per renewal phase (coordinator-crash.test.ts; 5 by default)
 *   KOFN_E2E_CLI_PIPE_MIB    the CLI's flat-memory round trip (e2e cli.spec.ts; issue #20 names 256)
 *   KOFN_E2E_SCREENSHOTS     0: the a11y walk's screenshots, taken to be looked at, not checked, are left out
 *   KOFN_E2E_BIG_FILE_SCHEMES  the (k,n) schemes that round-trip 64 MiB through Chromium (protect-retrieve.spec.ts;
 *                            all three by default)
 *   KOFN_CRASH_LOOP_TRIALS   coordinator kill -9 loop trials (coordinator-crash.test.ts; 3 by default)
 *   KOFN_TEST_ONE_DATABASE   1: each coordinator suite runs on one database, PostgreSQL when there is one
 *                            (web db/testing.ts; KOFN_TEST_ALL_DATABASES=1 runs both again)
 */
const SIZED = {
  KOFN_DRAIN_FILES: '64',
  KOFN_CRASH_PHASE_TRIALS: '2',
  KOFN_CRASH_LOOP_TRIALS: '2',
  KOFN_E2E_CLI_PIPE_MIB: '128',
  KOFN_E2E_SCREENSHOTS: '0',
  KOFN_E2E_BIG_FILE_SCHEMES: '3of5',
  KOFN_TEST_ONE_DATABASE: '1'
};
const sizedEnv = (env) => ({ ...SIZED, ...env });

// A build made for tests: it also trusts the committed test licence key the e2e stacks sign with
// (web/src/lib/server/license-keys.ts). `npm start` and Docker build without it.
process.stdout.write('\n=== build (for tests) ===\n');
const buildStarted = Date.now();
const { code: buildCode, cpu: buildCpu } = await run('npm', ['run', 'build'], root, { ...process.env, KOFN_TEST_BUILD: '1' });
const built = buildCode === 0;
totals[built ? 'passed' : 'failed'] += 1;
lines.push(`build (for tests): ${built ? 'ok' : `FAILED (exit ${buildCode})`}${costs(buildStarted, buildCpu)}`);

// Lanes at once (the CI budget, issue handbook: run independent suites in parallel): the Playwright suite,
// which spends much of its time waiting on its stacks, slowed links and timeouts; the type checks, lint, format
// and the shared suite; the Docker image and compose checks (image builds, containers starting); and the
// coordinator's suite in three processes, its crash, drain and long-step campaigns in one and the rest in two
// halves (one file at a time each, much of it waiting on real relays, PostgreSQL and timeouts). With three lanes
// (the Docker checks after the others, the coordinator's suite in one process) a 46-minute run used 1.5 of the
// 2 cores on average (user + system time over wall time): each lane sat waiting on its timeouts while the others
// did too, and the coordinator's suite ran alone for its last minutes. The relay's suite, whose socket-timing
// tests are sensitive to a busy machine, runs first, on two workers, with only the type checks and lint beside it
// (one process at a time): with vitest's default of one worker on a 2-core machine a CI run sat 33-55% idle
// through it (vmstat), and the whole suite passed on two workers at a load average of 17. On two workers alone it
// still left a third of a core idle for its 111 s, while the checks lane, started after it, ended last but for
// the Playwright suite (lint alone took 1,055 s of wall time for 193 CPU-s, starved by the lanes beside it).
const relaySuite = vitest('relay', process.env, '', ['--maxWorkers=2']);

async function e2eLane() {
  if (built) await playwright();
  else {
    totals.failed += 1;
    lines.push('playwright e2e: not run, the build failed');
  }
}

async function dockerChecks() {
  const image = await skippableCheck('relay Docker image (build, run, PUT/GET, healthcheck)', 'bash', ['relay/docker/test-image.sh']);
  // The whole stack in containers (issue #22), on the relay image just built when that check passed, and on the
  // build for tests made above (packaged, never rebuilt).
  const env = { ...process.env, KOFN_REUSE_RELAY_IMAGE: image === 'passed' ? '1' : '' };
  await skippableCheck('docker-compose stack (PostgreSQL, coordinator, 5 relays; Chromium on the host)', 'bash', ['relay/docker/test-compose.sh'], env);
}

async function checksLane() {
  await check('typecheck shared+relay (tsc -b)', 'npx', ['tsc', '-b']);
  await check('typecheck shared+relay tests (tsc)', 'sh', ['-c', 'npx tsc -p shared/tsconfig.test.json && npx tsc -p relay/tsconfig.test.json']);
  await check('typecheck web (svelte-check)', 'npm', ['run', 'typecheck', '-w', '@kofn/web']);
  await check('typecheck e2e (tsc)', 'npx', ['tsc', '-p', 'e2e']);
  // Lint and format (issue #14), 0 warnings; both keep a cache in node_modules/.cache. ESLint lints the whole tree
  // (no paths: eslint.config.js's ignores say what is left out).
  await check('lint (eslint, 0 warnings)', 'npm', ['run', 'lint']);
  await check('format (prettier --check)', 'npm', ['run', 'format:check']);
  await vitest('shared');
}

async function dockerLane() {
  // On the build for tests made above (the compose check packages it, never rebuilds it).
  if (built) await dockerChecks();
}

/**
 * The coordinator suite's slow campaigns (kill -9 loops, a 200-file drain, idle cuts, a 4 GiB ZIP64): about
 * half its time, in files of their own, so they run beside the rest instead of after it.
 */
const COORDINATOR_CAMPAIGNS = [
  'src/lib/server/coordinator-crash.test.ts',
  'src/lib/server/crash-campaign.test.ts',
  'src/lib/server/drain.test.ts',
  'src/lib/server/long-steps.test.ts',
  'src/lib/engine/zip64.test.ts'
];

async function coordinatorLane() {
  const pg = await findPostgres(process.env);
  const env = sizedEnv(process.env);
  if (pg.url) env.DATABASE_URL = pg.url;
  const note = pg.url ? ` (PostgreSQL ${shown(pg.url)}, ${pg.how})` : ` (PostgreSQL ${pg.how}; its variants are skipped)`;
  // The rest in two processes, half its files each (vitest's --shard): alone it takes about 250 s on this machine,
  // but in a CI run it took 1,811 s beside the Playwright suite's many processes (the scheduler shares the CPU
  // out by runnable threads, and one process of one file at a time has few), nearly the run's critical path.
  // Each suite file has a database of its own (db/testing.ts), so the halves share nothing.
  const rest = COORDINATOR_CAMPAIGNS.flatMap((f) => ['--exclude', f]);
  await Promise.all([
    vitest('web', env, note, COORDINATOR_CAMPAIGNS, 'campaigns'),
    vitest('web', env, note, [...rest, '--shard=1/2'], 'rest 1 of 2'),
    vitest('web', env, note, [...rest, '--shard=2/2'], 'rest 2 of 2')
  ]);
}

const checks = checksLane();
await relaySuite;
await Promise.all([e2eLane(), checks, dockerLane(), coordinatorLane()]);

if (failures.length > 0) process.stdout.write(`\n=== failed tests ===\n${failures.join('\n')}\n`);
process.stdout.write(`\n=== summary ===\n${lines.join('\n')}\n`);
process.stdout.write(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exit(totals.failed === 0 ? 0 : 1);
