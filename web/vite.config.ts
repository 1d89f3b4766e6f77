import { readFileSync } from 'node:fs';
import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

export default defineConfig(({ mode }) => {
  // A build made for tests (KOFN_TEST_BUILD=1, set by e2e/run-all.mjs; vitest runs in mode "test") also
  // trusts the committed test licence key; every other build gets null. See src/lib/server/license-keys.ts.
  const testBuild = mode === 'test' || process.env.KOFN_TEST_BUILD === '1';
  const testKey = testBuild ? readFileSync(new URL('src/lib/server/testing/TEST-ONLY-vendor-license-public.pem', import.meta.url), 'utf8') : null;
  return {
    plugins: [sveltekit()],
    define: { __KOFN_TEST_VENDOR_KEY__: JSON.stringify(testKey) },
    test: {
      include: ['src/**/*.test.ts'],
      environment: 'node',
      // Database suites open PGlite and PostgreSQL; one file at a time keeps 2 cores responsive.
      fileParallelism: false,
      testTimeout: 30_000,
      hookTimeout: 60_000
    }
  };
});
