// Mutation testing of the relay's security modules (issue #24): capability checks, ingest, the disk and S3
// stores, the routes. Run through `npm run test:mutation` (stryker/run.mjs), which runs Stryker once per
// module (stryker/modules.mjs), prints the score of each and checks the 85% target.
// Needs shared/dist (`npm run build -w shared`): the relay imports @kofn/shared's build.
// @ts-check
import { scope } from '../stryker/scope.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // The in-process suites only: see vitest.mutation.config.ts.
  vitest: { configFile: 'vitest.mutation.config.ts' },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  coverageAnalysis: 'perTest',
  // As in shared/stryker.config.mjs: module-level constants would each need the whole suite.
  ignoreStatic: true,
  // 2 cores shared by several people: one test process at a time.
  concurrency: 1,
  ...scope('relay'),
  // The initial run of the suites (with coverage) took over Stryker's default 5 minutes on a loaded machine.
  dryRunTimeoutMinutes: 30,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 85, break: null },
  timeoutMS: 20_000
};
