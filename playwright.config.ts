import { defineConfig } from '@playwright/test';

/**
 * End-to-end tests drive Debian's Chromium (never a downloaded browser) against the built app, a real
 * coordinator and real relays started by e2e/global-setup.ts on loopback ports.
 */
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Six lanes (Playwright projects, one worker each): the shared-stack specs in three lanes (furtherSharedLanes
 * below), one at a time in each, since a lane's specs share one coordinator's users, sessions, files and
 * quotas; and the specs that use only stacks of their own (e2e/stack.ts, e2e/proxied-stack.ts), which spend much
 * of their time waiting on slowed links, timeouts and restarts, in three private lanes and after the shared specs
 * of the two further shared lanes. A spec in a private lane (or listed as private in a further shared lane) never
 * touches the `stack`/`admin` fixtures nor KOFN_E2E_* (it would then run at the same time as the shared-stack
 * specs). Balanced by the test time each spec took in a CI run on clean clone (session 21, the run CPU-bound):
 * the lanes held 681, 516, 514, 879, 609 and 718 s of it and the suite ended 1,058 s after its first test, two
 * further shared lanes idle from 526 s on and cli.spec.ts alone 750 s (now cli.spec.ts and cli-transfers.spec.ts,
 * about 450 and 300 s); each lane below holds 600-680 s of those.
 * KOFN_E2E_SERIAL=1 runs everything in one worker (to tell a timing flake from a bug).
 */
export const privateLanes: readonly string[][] = [
  [
    'cli.spec.ts',
    'federation.spec.ts',
    'federation-files.spec.ts',
    'file-health.spec.ts',
    'hostile-relay.spec.ts',
    'late-failure.spec.ts',
    'limits.spec.ts',
    'postgres-routes.spec.ts',
    'proxy-address.spec.ts',
    'relay-restart.spec.ts',
    'repair-verification.spec.ts'
  ],
  [
    'compact.spec.ts',
    'multilevel.spec.ts',
    'ops-metrics.spec.ts',
    'ops-two-coordinators.spec.ts',
    'relay-lifecycle.spec.ts',
    'renewal-download.spec.ts',
    'renewal-download-drop.spec.ts',
    'renewal-download-replace.spec.ts',
    'token-lifetime.spec.ts'
  ],
  ['cli-modes.spec.ts', 'cli-transfers.spec.ts']
];
/** Private-stack specs that run in a further shared lane, after its shared specs (see the lanes above). */
const privateInSharedLanes: readonly string[][] = [
  ['files-10k.spec.ts', 'offline-messages.spec.ts', 'ops-backup.spec.ts', 'renewal-cli.spec.ts', 'supervise.spec.ts'],
  ['faults.spec.ts', 'live-pings.spec.ts']
];
const privateStackSpecs = [...privateLanes.flat(), ...privateInSharedLanes.flat()];
/**
 * The shared-stack specs in three lanes, each on a stack of its own (global-setup.ts starts one per lane;
 * fixtures.ts points each further lane's worker at its stack). The further lanes' specs never read a shared
 * stack's folders or address from the environment (csrf, resume, folders-zip, accounts, admin-usage and api do,
 * so they stay on the first), and no spec uses what a spec of another lane made.
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
    ...furtherSharedLanes.map((specs, i) => ({ name: `shared-stack-${i + 2}`, testMatch: [...specs, ...privateInSharedLanes[i]!], workers: 1 })),
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
