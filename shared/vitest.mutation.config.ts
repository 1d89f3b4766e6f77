import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The suite as Stryker runs it (stryker.config.mjs): Stryker's vitest runner uses worker threads, which
 * refuse V8 flags in execArgv, so the relaxed-SIMD flag is given to the test runner process instead
 * (testRunnerNodeArgs); V8 flags are per process, so its threads have relaxed SIMD too.
 */
// Instrumented code on a loaded machine: the heaviest property tests (every single-byte change of k share
// chunks, streams.test.ts) missed the 60 s limit in Stryker's initial run; a mutant's own timeout is set
// by Stryker (timeoutMS) and is not affected.
// The command-line client's suites (src/cli) call process.umask(), which worker threads refuse; they test
// none of the modules measured here, and left in they failed Stryker's initial run for every shared module.
const config = mergeConfig(base, defineConfig({ test: { testTimeout: 300_000, exclude: ['**/node_modules/**', 'dist/**', 'src/cli/**'] } }));
// Stryker sets its own worker arguments; an inherited list would be passed twice.
if (config.test) delete (config.test as { execArgv?: unknown }).execArgv;
export default config;
