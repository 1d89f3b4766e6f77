import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The suite as Stryker runs it (stryker.config.mjs): Stryker's vitest runner uses worker threads, which
 * refuse V8 flags in execArgv, so the relaxed-SIMD flag is given to the test runner process instead
 * (testRunnerNodeArgs); V8 flags are per process, so its threads have relaxed SIMD too.
 */
const config = mergeConfig(base, defineConfig({}));
if (config.test) delete (config.test as { execArgv?: unknown }).execArgv;
export default config;
