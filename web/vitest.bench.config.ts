import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// `npm run bench -w web`: the coordinator benchmark (prints figures; asserts nothing about speed).
export default defineConfig({
  // As vite.config.ts does for tests: the coordinator's modules read the build's test key (src/lib/server/license-keys.ts).
  define: { __KOFN_TEST_VENDOR_KEY__: JSON.stringify(readFileSync(new URL('src/lib/server/testing/TEST-ONLY-vendor-license-public.pem', import.meta.url), 'utf8')) },
  test: { include: ['bench/**/*.bench.ts'], environment: 'node', testTimeout: 1_800_000, hookTimeout: 120_000, fileParallelism: false }
});
