// Mutation testing of the coordinator's security modules (issue #24): reservations and commit (files.ts),
// grants, sessions and sign-in (auth.ts), jobs, licence. Run through `npm run test:mutation`
// (stryker/run.mjs), which runs Stryker once per module (stryker/modules.mjs), prints the score of each
// and checks the 85% target. Needs shared/dist and relay/dist (`npm run build -w shared -w relay`): the
// suites import @kofn/shared's build and start real relay processes.
// @ts-check
import { scope } from '../stryker/scope.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // The app's own vitest set-up (vite.config.ts: SvelteKit plugin, test licence key, one file at a time),
  // narrowed to the module's own suites (vitest.mutation.config.ts). PGlite only: stryker/run.mjs leaves
  // DATABASE_URL out for this package, so each mutant costs one in-memory database per suite; the
  // PostgreSQL-only behaviour is proven by `npm test`.
  vitest: { configFile: 'vitest.mutation.config.ts' },
  // No TypeScript checker: the app's tsconfig extends SvelteKit's generated one (.svelte-kit), which the
  // checker does not build; a mutant that would not compile runs as esbuild's JavaScript instead and is
  // counted like any other.
  coverageAnalysis: 'perTest',
  ignoreStatic: true,
  // 2 cores shared by several people: one test process at a time.
  concurrency: 1,
  ...scope('web'),
  // The initial run of the suites (with coverage) took over Stryker's default 5 minutes on a loaded machine.
  dryRunTimeoutMinutes: 30,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 85, break: null },
  timeoutMS: 60_000
};
