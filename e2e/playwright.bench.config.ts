import { defineConfig } from '@playwright/test';

// `npm run bench:e2e`: the end-to-end benchmark (prints figures; not part of `npm test`).
export default defineConfig({
  testDir: './bench',
  testMatch: '**/*.bench.ts',
  workers: 1,
  reporter: [['list']],
  timeout: 0
});
