import { defineConfig } from '@playwright/test';

/**
 * End-to-end tests drive Debian's Chromium (never a downloaded browser) against the built app, a real
 * coordinator and real relays started by e2e/global-setup.ts on loopback ports.
 */
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Six lanes (Playwright projects, one worker each): the shared-stack specs in three lanes (furtherSharedLanes
 * below), one at a time in each, since a lane's specs share one coordinator's users, sessions, files and
 * quotas; and beside them, in three lanes of their own, one at a time in each, the specs that use only stacks of their own (e2e/stack.ts, e2e/proxied-stack.ts) and spend
 * much of their time waiting on slowed links, timeouts and restarts. Measured in a CI run with two lanes
 * (session 16): the shared-stack specs took 1,057 s of test time, the private-stack specs 1,400 s, and the
 * suite 1,571 s of wall time on the critical path of a 29-minute run, while the machine used 1.4 of its 2
 * cores on average. The three private lanes below hold about 440 s each measured alone (session 20; longest
 * specs: cli 316 s, token-lifetime 146, cli-modes 107, live-pings 98, compact 88, renewal-download 67).
 * A spec goes in a private lane only if it never touches the `stack`/`admin` fixtures nor KOFN_E2E_* (it
 * would then run at the same time as the shared-stack specs).
 * KOFN_E2E_SERIAL=1 runs everything in one worker (to tell a timing flake from a bug).
 */
export const privateLanes: readonly string[][] = [
  ['cli.spec.ts', 'limits.spec.ts', 'live-pings.spec.ts', 'postgres-routes.spec.ts', 'proxy-address.spec.ts', 'repair-verification.spec.ts'],
  [
    'compact.spec.ts',
    'ops-metrics.spec.ts',
    'ops-two-coordinators.spec.ts',
    'relay-lifecycle.spec.ts',
    'renewal-download.spec.ts',
    'renewal-download-drop.spec.ts',
    'renewal-download-replace.spec.ts',
    'token-lifetime.spec.ts'
  ],
  [
    'cli-modes.spec.ts',
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
    'supervise.spec.ts'
  ]
];
const privateStackSpecs = privateLanes.flat();
/**
 * The shared-stack specs in three lanes, each on a stack of its own (global-setup.ts starts one per lane;
 * fixtures.ts points each further lane's worker at its stack). In one lane they took 2,126 s of test time in a
 * CPU-bound CI run, against 1,265 and 1,536 s in the private lanes: the suite's critical path. Measured alone
 * (session 20) with two shared lanes: 581 and 574 s of test time, the private ones 667 and 650 s, the whole
 * suite 934 s of wall time while it used 1.1 of the machine's 2 cores: much of a lane's time is waiting (paced
 * links, token lifetimes, expiries, pings a minute apart), which more lanes overlap. The further lanes' specs
 * never read a shared stack's folders or address from the environment (csrf, resume, folders-zip, accounts,
 * admin-usage and api do, so they stay on the first), and no spec uses what a spec of another lane made.
 */
export const furtherSharedLanes: readonly string[][] = [
  ['a11y.spec.ts', 'folder-drop.spec.ts', 'layout-shift.spec.ts', 'previews-media.spec.ts', 'protect-retrieve.spec.ts', 'pwa.spec.ts', 'screenshots.spec.ts'],
  ['api-tokens.spec.ts', 'app-shell.spec.ts', 'files-manage.spec.ts', 'share-links.spec.ts', 'totp.spec.ts']
];
const serial = process.env.KOFN_E2E_SERIAL === '1';

export default defineConfig({
  testDir: './e2e/tests',
  globalSetup: './e2e/global-setup.ts',
  fullyParallel: false,
  workers: serial ? 1 : 1 + furtherSharedLanes.length + privateLanes.length,
  projects: [
    { name: 'shared-stack', testIgnore: [...privateStackSpecs, ...furtherSharedLanes.flat()], workers: 1 },
    ...furtherSharedLanes.map((specs, i) => ({ name: `shared-stack-${i + 2}`, testMatch: [...specs], workers: 1 })),
    ...privateLanes.map((specs, i) => ({ name: `private-stacks-${i + 1}`, testMatch: specs, workers: 1 }))
  ],
  retries: 0,
  forbidOnly: true,
  timeout: 60_000,
  // 10 s for a web-first assertion, not Playwright's 5: in CPU-bound CI runs, states that come within a second
  // on a quiet machine (a history row after a failed ZIP, a relay's first ping on a freshly opened page) were
  // each once late past 5 s, and passed on their retry.
  expect: { timeout: 10_000 },
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
