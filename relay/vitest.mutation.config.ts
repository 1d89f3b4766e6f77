import { defineConfig, mergeConfig, type ViteUserConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The relay suite as Stryker runs it (stryker.config.mjs): only the in-process suites. The others start
 * real relay processes from dist/main.js (crash, enrolment, S3 failure injection, scrub, server limits),
 * which run the last build and never the mutated sources in Stryker's sandbox, so they cannot kill a
 * mutant and would only make every run longer. The renewal suites are left out too: they test
 * renewal.ts (not a mutated module) through several in-process relays with 20 s answer limits, which a
 * loaded machine misses in Stryker's initial run. All of them stay in `npm test`.
 *
 * The two stores are measured by the storage suites only (as the coordinator's modules are by their own
 * suites, web/vitest.mutation.config.ts): every in-process relay suite stores chunks on disk, so with the
 * whole set each disk.ts mutant reran most of the relay's tests (an estimated 5 hours for disk.ts at load
 * 30 on 2 cores). A score from the storage suites is a lower bound: a route suite may kill more.
 */
const SUITES: Record<string, string[]> = {
  'src/storage/disk.ts': ['src/storage/*.test.ts', 'src/enospc.test.ts'],
  'src/storage/s3.ts': ['src/storage/*.test.ts']
};

const suites = SUITES[process.env.KOFN_STRYKER_MODULE ?? ''];

const config: ViteUserConfig = mergeConfig(
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

// Replaced, not merged: mergeConfig would add these to the base's src/**/*.test.ts.
export default suites ? { ...config, test: { ...config.test, include: suites } } : config;
