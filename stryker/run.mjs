#!/usr/bin/env node
/**
 * `npm run test:mutation`: Stryker over each package's security modules (its `stryker.config.mjs`), then
 * one line per module with its mutation score, and a check of the 85% target (issue #24).
 *
 * Score = detected / (detected + undetected), as Stryker counts it: detected = killed + timeout,
 * undetected = survived + no coverage; compile errors (the TypeScript checker) and ignored mutants are
 * outside it. Surviving mutants listed in stryker/equivalent-mutants.md (same file, line, mutator and
 * replacement) are equivalent: they are shown, and left out of the adjusted score the target applies to.
 *
 * Incremental: each package's results are kept in stryker/<package>.incremental.json (committed), so a
 * routine run tests only mutants in changed code or covered by changed tests. `--full` retests everything;
 * `--report-only` prints the scores of the last run without running Stryker.
 * Exits non-zero when a run fails or a module is under the target.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TARGET = 85;
/** Packages with a Stryker config; relay and web are not set up yet (see stryker/README.md). */
const PACKAGES = ['shared'];

const full = process.argv.includes('--full');
/** Only print the scores of the last run's reports (test-results/stryker/<package>.json). */
const reportOnly = process.argv.includes('--report-only');

function run(cwd, args) {
  return new Promise((res) => {
    const child = spawn(join(root, 'node_modules/.bin/stryker'), args, { cwd, stdio: 'inherit', env: process.env });
    child.on('exit', (code, signal) => res(code ?? (signal ? 1 : 0)));
  });
}

/** Rows of the table in equivalent-mutants.md: | package/file | line | mutator | replacement | reason | */
function equivalents() {
  const text = readFileSync(join(root, 'stryker/equivalent-mutants.md'), 'utf8');
  const out = [];
  for (const line of text.split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim()); // a replacement's own | is written \|
    if (cells.length < 7 || !/^[a-z]+\/src\//.test(cells[1])) continue;
    out.push({ file: cells[1], line: Number(cells[2]), mutator: cells[3], replacement: cells[4].replace(/^`|`$/g, '').replaceAll('\\|', '|') });
  }
  return out;
}

function scores(pkg, report, known) {
  const rows = [];
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const c = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, equivalent: 0, ignored: 0, invalid: 0 };
    for (const m of mutants) {
      const where = `${pkg}/${file}`;
      const isEquivalent = known.some((e) => e.file === where && e.line === m.location.start.line && e.mutator === m.mutatorName && e.replacement === (m.replacement ?? ''));
      if (m.status === 'Killed') c.killed++;
      else if (m.status === 'Timeout') c.timeout++;
      else if ((m.status === 'Survived' || m.status === 'NoCoverage') && isEquivalent) c.equivalent++;
      else if (m.status === 'Survived') c.survived++;
      else if (m.status === 'NoCoverage') c.noCoverage++;
      else if (m.status === 'Ignored') c.ignored++;
      else c.invalid++; // CompileError, RuntimeError
    }
    const detected = c.killed + c.timeout;
    const raw = (100 * detected) / Math.max(1, detected + c.survived + c.noCoverage + c.equivalent);
    const adjusted = (100 * detected) / Math.max(1, detected + c.survived + c.noCoverage);
    rows.push({ file: `${pkg}/${file}`, raw, adjusted, ...c });
  }
  return rows.sort((a, b) => a.file.localeCompare(b.file));
}

let failed = false;
const all = [];
for (const pkg of PACKAGES) {
  if (!reportOnly) {
    process.stdout.write(`\n=== Stryker: ${pkg} ===\n`);
    const t0 = Date.now();
    const code = await run(join(root, pkg), ['run', 'stryker.config.mjs', ...(full ? ['--force'] : [])]);
    process.stdout.write(`Stryker ${pkg}: ${Math.round((Date.now() - t0) / 1000)} s\n`);
    if (code !== 0) {
      failed = true;
      continue;
    }
  }
  const report = JSON.parse(readFileSync(join(root, 'test-results/stryker', `${pkg}.json`), 'utf8'));
  all.push(...scores(pkg, report, equivalents()));
}

process.stdout.write(`\n=== mutation score per module (target ${TARGET}%) ===\n`);
for (const r of all) {
  const ok = r.adjusted >= TARGET;
  if (!ok) failed = true;
  process.stdout.write(
    `${ok ? 'ok  ' : 'LOW '} ${r.file.padEnd(26)} ${r.adjusted.toFixed(1).padStart(5)}%` +
      ` (raw ${r.raw.toFixed(1)}%: killed ${r.killed}, timeout ${r.timeout}, survived ${r.survived}, no coverage ${r.noCoverage},` +
      ` equivalent ${r.equivalent}, ignored ${r.ignored}, not compiling ${r.invalid})\n`
  );
}
process.exit(failed ? 1 : 0);
