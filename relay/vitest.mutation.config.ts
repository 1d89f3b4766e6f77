import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The relay suite as Stryker runs it (stryker.config.mjs): only the in-process suites. The others start
 * real relay processes from dist/main.js (crash, enrolment, S3 failure injection, scrub, server limits),
 * which run the last build and never the mutated sources in Stryker's sandbox, so they cannot kill a
 * mutant and would only make every run longer. The renewal suites are left out too: they test
 * renewal.ts (not a mutated module) through several in-process relays with 20 s answer limits, which a
 * loaded machine misses in Stryker's initial run. All of them stay in `npm test`.
 */
export default mergeConfig(
  base,
  defineConfig({
    test: {
      // Instrumented code on a loaded machine (see shared/vitest.mutation.config.ts).
      testTimeout: 300_000,
      exclude: [
        'src/crash.test.ts',
        'src/enroll.test.ts',
        'src/s3-failure.test.ts',
        'src/scrub-report.test.ts',
        'src/scrub.test.ts',
        'src/server-limits.test.ts',
        'src/renewal.test.ts',
        'src/renewal-bad-input.test.ts',
        '**/node_modules/**'
      ]
    }
  })
);
