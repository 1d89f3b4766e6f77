// Mutation testing of @kofn/shared's security modules (issue #24). Run through `npm run test:mutation`
// (stryker/run.mjs), which runs Stryker once per module (stryker/modules.mjs), prints the score of each
// module and checks the 85% target.
// @ts-check
import { scope } from '../stryker/scope.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  // gf256.test.ts checks the relaxed-SIMD WASM build, which Node 20 has only behind this flag.
  testRunnerNodeArgs: ['--experimental-wasm-relaxed-simd'],
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  coverageAnalysis: 'perTest',
  // Static mutants (module-level constants and tables, run once at import) need the whole suite each;
  // they are left out to keep routine runs short and are counted as ignored in the report.
  ignoreStatic: true,
  // 2 cores shared by several people: one test process at a time.
  concurrency: 1,
  // One module (mutate, its incremental state and reports), named by stryker/run.mjs.
  ...scope('shared'),
  // Inside this folder, so the sandbox's tsconfig "extends" paths (rewritten by Stryker) stay right.
  // The initial run of the suites (with coverage) took over Stryker's default 5 minutes on a loaded machine.
  dryRunTimeoutMinutes: 30,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 85, break: null },
  timeoutMS: 20_000
};
