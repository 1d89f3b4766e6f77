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
  // One retry, as `npm test` gives the Playwright suite: this one test drives seven containers through health
  // checks with 10 s timeouts, and beside the other lanes of a CPU-bound CI run it once waited past one of its
  // limits. The retry starts from nothing (afterAll takes the containers and volumes down); a pass on the retry
  // shows as "1 flaky" in the check's output.
  retries: 1,
  forbidOnly: true,
  // Under load (2 cores, several test runs at once) starting seven containers twice has taken minutes.
  timeout: 900_000,
  outputDir: '../test-results/compose',
  reporter: [['list']],
  use: base.use
});
