import { defineConfig } from '@playwright/test';
import base from '../playwright.config.js';

/**
 * The compose test (issue #22): PostgreSQL, the coordinator and five relays in containers, started with
 * Debian's docker-compose from relay/docker-compose.yml, driven from Debian's Chromium on the host. Run by
 * relay/docker/test-compose.sh, which starts a Docker engine and builds the images first; not part of the
 * main Playwright suite (it needs no global stack, and it needs the engine).
 */
export default defineConfig({
  testDir: './compose',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  // Under load (2 cores, several test runs at once) starting seven containers twice has taken minutes.
  timeout: 900_000,
  outputDir: '../test-results/compose',
  reporter: [['list']],
  use: base.use
});
