import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The relay suite as Stryker runs it (stryker.config.mjs): only the in-process suites. The others start
 * real relay processes from dist/main.js (crash, enrolment, S3 failure injection, scrub, server limits),
 * which run the last build and never the mutated sources in Stryker's sandbox, so they cannot kill a
 * mutant and would only make every run longer. They stay in `npm test`.
 */
export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: [
        'src/crash.test.ts',
        'src/enroll.test.ts',
        'src/s3-failure.test.ts',
        'src/scrub-report.test.ts',
        'src/scrub.test.ts',
        'src/server-limits.test.ts',
        '**/node_modules/**'
      ]
    }
  })
);
