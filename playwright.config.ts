import { defineConfig } from '@playwright/test';

/**
 * End-to-end tests drive Debian's Chromium (never a downloaded browser) against the built app, a real
 * coordinator and real relays started by e2e/global-setup.ts on loopback ports.
 */
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Three lanes (Playwright projects, one worker each): the shared-stack specs, one at a time, since they share
 * one coordinator's users, sessions, files and quotas; and beside them, in two lanes of their own, one at a
 * time in each, the specs that use only stacks of their own (e2e/stack.ts, e2e/proxied-stack.ts) and spend
 * much of their time waiting on slowed links, timeouts and restarts. Measured in a CI run with two lanes
 * (session 16): the shared-stack specs took 1,057 s of test time, the private-stack specs 1,400 s, and the
 * suite 1,571 s of wall time on the critical path of a 29-minute run, while the machine used 1.4 of its 2
 * cores on average. The two private lanes below hold about 700 s each (longest specs: cli 418 s,
 * token-lifetime 145, cli-modes 124, live-pings 107, ops-backup 87, renewal-download 68).
 * A spec goes in a private lane only if it never touches the `stack`/`admin` fixtures nor KOFN_E2E_* (it
 * would then run at the same time as the shared-stack specs).
 * KOFN_E2E_SERIAL=1 runs everything in one worker (to tell a timing flake from a bug).
 */
export const privateLanes: readonly string[][] = [
  [
    'cli.spec.ts',
    'limits.spec.ts',
    'live-pings.spec.ts',
    'ops-metrics.spec.ts',
    'ops-two-coordinators.spec.ts',
    'postgres-routes.spec.ts',
    'proxy-address.spec.ts',
    'relay-lifecycle.spec.ts',
    'renewal-download-replace.spec.ts',
    'repair-verification.spec.ts',
    'token-lifetime.spec.ts'
  ],
  [
    'cli-modes.spec.ts',
    'compact.spec.ts',
    'faults.spec.ts',
    'federation.spec.ts',
    'federation-files.spec.ts',
    'file-health.spec.ts',
    'files-10k.spec.ts',
    'hostile-relay.spec.ts',
    'late-failure.spec.ts',
    'multilevel.spec.ts',
    'offline-messages.spec.ts',
    'ops-backup.spec.ts',
    'relay-restart.spec.ts',
    'renewal-cli.spec.ts',
    'renewal-download.spec.ts',
    'renewal-download-drop.spec.ts',
    'supervise.spec.ts'
  ]
];
const privateStackSpecs = privateLanes.flat();
const serial = process.env.KOFN_E2E_SERIAL === '1';

export default defineConfig({
  testDir: './e2e/tests',
  globalSetup: './e2e/global-setup.ts',
  fullyParallel: false,
  workers: serial ? 1 : 1 + privateLanes.length,
  projects: [{ name: 'shared-stack', testIgnore: privateStackSpecs, workers: 1 }, ...privateLanes.map((specs, i) => ({ name: `private-stacks-${i + 1}`, testMatch: specs, workers: 1 }))],
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
