import { defineConfig } from '@playwright/test';

/**
 * End-to-end tests drive Debian's Chromium (never a downloaded browser) against the built app, a real
 * coordinator and real relays started by e2e/global-setup.ts on loopback ports.
 */
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Two lanes (Playwright projects, one worker each): the shared-stack specs, one at a time, since they share
 * one coordinator's users, sessions, files and quotas; and beside them, one at a time too, specs that use
 * only stacks of their own (e2e/stack.ts, e2e/proxied-stack.ts) and spend much of their time waiting on
 * slowed links, timeouts and restarts. A private-stack spec may run in either lane: the ones listed here are
 * chosen so both lanes take about as long (measured in a CI run: the second lane took 30 min of test time
 * against 20 for the first, so relay-lifecycle, cli-modes, compact, renewal-cli and renewal-download-drop,
 * private-stack specs all, run in the first lane).
 * A spec goes here only if it never touches the `stack`/`admin` fixtures nor KOFN_E2E_* (it would then run
 * at the same time as the shared-stack specs).
 * KOFN_E2E_SERIAL=1 runs everything in one worker, as before (to tell a timing flake from a bug).
 */
export const secondLaneSpecs = [
  'cli.spec.ts',
  'faults.spec.ts',
  'file-health.spec.ts',
  'federation.spec.ts',
  'federation-files.spec.ts',
  'files-10k.spec.ts',
  'hostile-relay.spec.ts',
  'late-failure.spec.ts',
  'live-pings.spec.ts',
  'limits.spec.ts',
  'multilevel.spec.ts',
  'offline-messages.spec.ts',
  'ops-backup.spec.ts',
  'ops-metrics.spec.ts',
  'ops-two-coordinators.spec.ts',
  'postgres-routes.spec.ts',
  'proxy-address.spec.ts',
  'relay-restart.spec.ts',
  'renewal-download.spec.ts',
  'supervise.spec.ts',
  'token-lifetime.spec.ts'
];
const serial = process.env.KOFN_E2E_SERIAL === '1';

export default defineConfig({
  testDir: './e2e/tests',
  globalSetup: './e2e/global-setup.ts',
  fullyParallel: false,
  workers: serial ? 1 : 2,
  projects: [
    { name: 'shared-stack', testIgnore: secondLaneSpecs, workers: 1 },
    { name: 'private-stacks', testMatch: secondLaneSpecs, workers: 1 }
  ],
  retries: 0,
  forbidOnly: true,
  timeout: 60_000,
  outputDir: './test-results/e2e',
  reporter: [['list'], ['json', { outputFile: './test-results/e2e-results.json' }]],
  use: {
    headless: true,
    screenshot: 'only-on-failure',
    trace: 'off',
    launchOptions: {
      executablePath: chromium,
      // Without these, Chromium tries Google's hosts at start and this machine's closed network refuses them.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    }
  }
});
