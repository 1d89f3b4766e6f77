// Mutation testing of @kofn/shared's security modules (issue #24). Run through `npm run test:mutation`
// (stryker/run.mjs), which also prints the score of each module and checks the 85% target.
// @ts-check
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  // gf256.test.ts checks the relaxed-SIMD WASM build, which Node 20 has only behind this flag.
  testRunnerNodeArgs: ['--experimental-wasm-relaxed-simd'],
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  // The security-critical modules: the field, Shamir, the share-chunk format, MAC, metadata record,
  // the codec that authenticates records, the streams that bind order and FINAL, and offline recovery.
  mutate: [
    'src/gf256.ts',
    'src/shamir.ts',
    'src/chunk-format.ts',
    'src/mac.ts',
    'src/metadata.ts',
    'src/codec.ts',
    'src/streams.ts',
    'src/recover.ts'
  ],
  coverageAnalysis: 'perTest',
  // Static mutants (module-level constants and tables, run once at import) need the whole suite each;
  // they are left out to keep routine runs short and are counted as ignored in the report.
  ignoreStatic: true,
  // 2 cores shared by several people: one test process at a time.
  concurrency: 1,
  // Only mutants in changed code are tested again; the state is committed so routine runs are short.
  incremental: true,
  incrementalFile: '../stryker/shared.incremental.json',
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: '../test-results/stryker/shared.json' },
  htmlReporter: { fileName: '../test-results/stryker/shared.html' },
  // Inside this folder, so the sandbox's tsconfig "extends" paths (rewritten by Stryker) stay right.
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 85, break: null },
  timeoutMS: 20_000
};
