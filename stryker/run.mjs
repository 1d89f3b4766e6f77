#!/usr/bin/env node
/**
 * `npm run test:mutation`: Stryker over the security modules listed in stryker/modules.mjs, one module per
 * Stryker run (the package's `stryker.config.mjs` with KOFN_STRYKER_MODULE naming the file), then one line
 * per module with its mutation score and run time, and a check of the 85% target (issue #24).
 *
 *   npm run test:mutation                          every module (incremental)
 *   npm run test:mutation -- relay/src/app.ts      only the modules named (package/path), or a package name
 *   npm run test:mutation -- --full                retest every mutant (after changing the config or Stryker)
 *   npm run test:mutation -- --report-only         print the last reports' scores without running Stryker
 *
 * Score = detected / (detected + undetected), as Stryker counts it: detected = killed + timeout,
 * undetected = survived + no coverage; compile errors (the TypeScript checker) and ignored mutants are
 * outside it. Surviving mutants listed in stryker/equivalent-mutants.md (same file, line, mutator and
 * replacement) are equivalent: they are shown, and left out of the adjusted score the target applies to.
 *
 * Incremental: each module's results are kept in stryker/<package>/<module>.incremental.json (committed),
 * so a routine run tests only mutants in changed code or covered by changed tests.
 * Exits non-zero when a run fails or a module is under the target.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODULES, moduleKey } from './modules.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TARGET = 85;

const args = process.argv.slice(2);
const full = args.includes('--full');
/** Only print the scores of the last run's reports (test-results/stryker/<package>/<module>.json). */
const reportOnly = args.includes('--report-only');
const wanted = args.filter((a) => !a.startsWith('--'));
/** [package, module path] pairs to run: all of them, or those named on the command line. */
const selected = Object.entries(MODULES).flatMap(([pkg, files]) =>
  files.map((file) => [pkg, file]).filter(([, file]) => wanted.length === 0 || wanted.includes(pkg) || wanted.includes(`${pkg}/${file}`))
);
if (selected.length === 0) {
  process.stderr.write(`No module matches ${wanted.join(' ')}; see stryker/modules.mjs.\n`);
  process.exit(2);
}

function run(cwd, args, file) {
  return new Promise((res) => {
    const env = { ...process.env, KOFN_STRYKER_MODULE: file };
    // Coordinator suites on PGlite only under Stryker (web/stryker.config.mjs): each mutant reruns them.
    if (cwd.endsWith('/web')) delete env.DATABASE_URL;
    const child = spawn(join(root, 'node_modules/.bin/stryker'), args, { cwd, stdio: 'inherit', env });
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
    // The line cell is `line` or `line:column`: a column tells apart mutants with the same mutator and
    // replacement on one line (s3.ts line 67 has four `false` mutants, three equivalent; without the
    // column, a survivor of the fourth, which a test kills, would be hidden as equivalent).
    const [lineNo, column] = cells[2].split(':').map(Number);
    out.push({ file: cells[1], line: lineNo, column, mutator: cells[3], replacement: cells[4].replace(/^`|`$/g, '').replaceAll('\\|', '|') });
  }
  return out;
}

function scores(pkg, report, known) {
  const rows = [];
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const c = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, equivalent: 0, ignored: 0, invalid: 0 };
    for (const m of mutants) {
      const where = `${pkg}/${file}`;
      const isEquivalent = known.some(
        (e) =>
          e.file === where &&
          e.line === m.location.start.line &&
          (e.column === undefined || e.column === m.location.start.column) &&
          e.mutator === m.mutatorName &&
          e.replacement === (m.replacement ?? '')
      );
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
const seconds = new Map();
for (const [pkg, file] of selected) {
  const where = `${pkg}/${file}`;
  const reportFile = join(root, 'test-results/stryker', pkg, `${moduleKey(file)}.json`);
  if (!reportOnly) {
    process.stdout.write(`\n=== Stryker: ${where} ===\n`);
    const t0 = Date.now();
    const code = await run(join(root, pkg), ['run', 'stryker.config.mjs', ...(full ? ['--force'] : [])], file);
    seconds.set(where, Math.round((Date.now() - t0) / 1000));
    process.stdout.write(`Stryker ${where}: ${seconds.get(where)} s\n`);
    if (code !== 0) {
      failed = true;
      all.push({ file: where, failed: true });
      continue;
    }
  }
  if (!existsSync(reportFile)) {
    failed = true;
    all.push({ file: where, failed: true });
    continue;
  }
  const report = JSON.parse(readFileSync(reportFile, 'utf8'));
  all.push(...scores(pkg, report, equivalents()));
}

process.stdout.write(`\n=== mutation score per module (target ${TARGET}%) ===\n`);
for (const r of all) {
  if (r.failed) {
    process.stdout.write(`FAIL ${r.file.padEnd(34)} no report (Stryker failed or never ran)\n`);
    continue;
  }
  const ok = r.adjusted >= TARGET;
  if (!ok) failed = true;
  const time = seconds.has(r.file) ? `, ${seconds.get(r.file)} s` : '';
  process.stdout.write(
    `${ok ? 'ok  ' : 'LOW '} ${r.file.padEnd(34)} ${r.adjusted.toFixed(1).padStart(5)}%` +
      ` (raw ${r.raw.toFixed(1)}%: killed ${r.killed}, timeout ${r.timeout}, survived ${r.survived}, no coverage ${r.noCoverage},` +
      ` equivalent ${r.equivalent}, ignored ${r.ignored}, not compiling ${r.invalid}${time})\n`
  );
}
process.exit(failed ? 1 : 0);
