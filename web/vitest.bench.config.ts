import { defineConfig } from 'vitest/config';

// `npm run bench -w web`: the coordinator benchmark (prints figures; asserts nothing about speed).
export default defineConfig({
  test: { include: ['bench/**/*.bench.ts'], environment: 'node', testTimeout: 1_800_000, hookTimeout: 120_000, fileParallelism: false }
});
