import { defineConfig } from '@playwright/test';

// `npm run bench:e2e`: the end-to-end benchmark (prints figures; not part of `npm test`).
export default defineConfig({
  testDir: './bench',
  testMatch: '**/*.bench.ts',
  workers: 1,
  reporter: [['list']],
  timeout: 0,
  // Benches that take Playwright's own browser (many-files.bench) get the machine's Chromium, never a download.
  use: {
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    }
  }
});
