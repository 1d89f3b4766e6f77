import { defineConfig, mergeConfig, type ViteUserConfig } from 'vitest/config';
import base from './vite.config.js';

/**
 * The coordinator suites as Stryker runs them (stryker.config.mjs): for each mutated module, the suites
 * written for it. Every coordinator suite opens a database and many start real relay processes, so the
 * whole suite in Stryker's initial run took longer than the rest of the run; a module measured by its own
 * suites gives a lower bound of its score (another suite may kill more). Each suite keeps running in
 * `npm test`. KOFN_STRYKER_MODULE is set by stryker/run.mjs.
 */
const SUITES: Record<string, string[]> = {
  'src/lib/server/license.ts': ['license.test.ts', 'license-edges.test.ts', 'license-build.test.ts'],
  'src/lib/server/grants.ts': ['grants.test.ts', 'grants-edges.test.ts'],
  'src/lib/server/auth.ts': ['auth.test.ts', 'auth-mutants.test.ts', 'sessions.test.ts', 'accounts.test.ts', 'user-cap.test.ts', 'login-throttle.test.ts'],
  'src/lib/server/jobs.ts': ['jobs.test.ts', 'jobs-edges.test.ts', 'jobs-mutants.test.ts'],
  'src/lib/server/files.ts': ['files.test.ts', 'commit-relays.test.ts', 'batch.test.ts', 'files-mutants.test.ts'],
  'src/lib/server/reservations.ts': ['reservations.test.ts', 'reservation-edges.test.ts', 'quota.test.ts', 'batch.test.ts', 'replace-relay.test.ts', 'reservations-mutants.test.ts'],
  'src/lib/server/capabilities.ts': ['capabilities.test.ts'],
  'src/lib/server/api-tokens.ts': ['api-tokens.test.ts']
};

export default defineConfig((env) => {
  const resolved = typeof base === 'function' ? base(env) : base;
  const suites = SUITES[process.env.KOFN_STRYKER_MODULE ?? ''];
  if (!suites) throw new Error(`No suites listed for ${process.env.KOFN_STRYKER_MODULE} in web/vitest.mutation.config.ts`);
  // Instrumented code on a loaded machine: 300 s per test and hook (see shared/vitest.mutation.config.ts).
  const config = mergeConfig(resolved, { test: { testTimeout: 300_000, hookTimeout: 300_000 } }) as ViteUserConfig;
  // Replaced, not merged: mergeConfig would add these to the base's src/**/*.test.ts.
  return { ...config, test: { ...config.test, include: suites.map((s) => `src/lib/server/${s}`) } };
});
