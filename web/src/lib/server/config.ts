/**
 * Coordinator settings from the environment (the launcher and Docker set them; see README).
 */
import { resolve } from 'node:path';
import { DEFAULT_RELAY_TIMEOUTS, KofnError, MAX_TOKEN_LIFETIME_S, type RelayTimeouts } from '@kofn/shared';
import { MIN_SCRAPE_TOKEN_LENGTH } from './metrics.js';
import { BUILD_TEST_VENDOR_KEY } from './license-keys.js';
import { RENEWAL_GRACE_MS } from './read-epoch.js';

export interface CoordinatorConfig {
  databaseUrl: string | undefined;
  dataDir: string;
  migrationsFolder: string;
  /**
   * A JSON file of enrollment tokens provisioned by whoever runs the coordinator (`[{ tokenHash, label,
   * relayId? }]`, SHA-256 hex of each token), imported at start: the one-machine launcher uses it.
   */
  relayEnrollmentsFile: string | undefined;
  /** A relay with no heartbeat for this long is shown offline. */
  relayOfflineAfterMs: number;
  /** Uploads not committed within this time are removed by the cleanup job. */
  reservationTtlMs: number;
  /** Qasmat's renewal settings: maximum share age before renewal, and age past which a file is flagged expired. */
  renewalMs: number;
  expirationMs: number;
  /**
   * Qasmat's `checking` setting: how often the coordinator checks every file's shares on their relays
   * (list + digest root, no share bytes move; issue #16) and scans for files due for renewal (#15).
   * KOFN_CHECKING_MINUTES, default 60.
   */
  checkingMs: number;
  /** Renewals queued or running at once (each moves every byte of a file between relays). */
  renewalConcurrency: number;
  /** Licence file (--license / KOFN_LICENSE); the vendor key that signs licences is built in (license-keys.ts). */
  licensePath: string | undefined;
  /** Trusted reverse-proxy header mode: only requests from these addresses may name the user. */
  trustedProxies: string[];
  /**
   * Time bounds of every request to a relay, the browser's (handed to the page) and the coordinator's
   * (KOFN_RELAY_TIMEOUT_HEADERS / _PUT / _IDLE / _TOTAL, seconds; defaults and reasons in
   * shared/src/protocol/relay-client.ts).
   */
  relayTimeouts: RelayTimeouts;
  /**
   * Lifetime of the relay capability tokens handed to browsers and the CLI for a user's files (seconds):
   * KOFN_TOKEN_TTL_SECONDS, default and maximum MAX_TOKEN_LIFETIME_S (15 minutes, which relays enforce).
   * Shorter lifetimes exist so tests can make a transfer outlast its tokens several times and prove that
   * they are renewed (issue #14); a shorter lifetime in production only costs more token requests.
   * Share links keep their own 120 s (share-links.ts); the coordinator's own relay jobs theirs.
   */
  tokenTtlS: number;
  /**
   * Bearer token a Prometheus scraper presents on GET /metrics (KOFN_METRICS_TOKEN, at least
   * MIN_SCRAPE_TOKEN_LENGTH printable characters); unset, /metrics answers 404 (metrics.ts).
   */
  metricsToken: string | undefined;
  /** How long removed files and folders stay in the trash before the automatic purge (KOFN_TRASH_DAYS, default 30; issue #18). */
  trashMs: number;
  /**
   * How long a renewal's old epoch stays on the relays after the switch before the drop job runs, and so
   * how long read tokens for it are minted (read-epoch.ts): RENEWAL_GRACE_MS (16 minutes) in every build
   * but one made for tests, which also honours KOFN_TEST_RENEWAL_GRACE_SECONDS so that an end-to-end test
   * sees the drop within its own time (a download outliving its epoch, #15). Not a product setting: the
   * grace exists so that every token minted before the switch (15 minutes at most) ends before the drop.
   */
  renewalGraceMs: number;
}

/** Shortest token lifetime accepted: below it, a clock skew of a few seconds would expire tokens on arrival. */
export const MIN_TOKEN_TTL_S = 10;

function positive(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return raw !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** `--license <path>` on the coordinator's command line. */
function licenseArg(): string | undefined {
  const i = process.argv.indexOf('--license');
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/**
 * The test-only grace (see CoordinatorConfig.renewalGraceMs): ignored unless `testBuild`; when honoured it
 * must outlast the token lifetime plus the relays' 5 s clock tolerance, so that tokens minted before the
 * switch for the old epoch still end before its drop, as in the product.
 */
function renewalGrace(raw: string | undefined, tokenTtlS: number, testBuild: boolean): number {
  if (!testBuild || raw === undefined || raw === '') return RENEWAL_GRACE_MS;
  const s = Number(raw);
  if (!Number.isInteger(s) || s <= tokenTtlS + 5 || s * 1000 > RENEWAL_GRACE_MS) {
    throw new KofnError(
      'INVALID_ARGUMENT',
      `KOFN_TEST_RENEWAL_GRACE_SECONDS must be a whole number of seconds above the token lifetime plus 5 (${tokenTtlS + 5}) and at most ${RENEWAL_GRACE_MS / 1000}.`
    );
  }
  return s * 1000;
}

/** A variable set to the empty string counts as unset (`DATABASE_URL= npm start`). */
const nonEmpty = (value: string | undefined): string | undefined => (value === '' ? undefined : value);

/** The scrape token, refused at start when short or with spaces: a guessable token is worse than none. */
function metricsToken(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw.length < MIN_SCRAPE_TOKEN_LENGTH || !/^[!-~]+$/.test(raw)) {
    throw new KofnError('INVALID_ARGUMENT', `KOFN_METRICS_TOKEN must be at least ${MIN_SCRAPE_TOKEN_LENGTH} printable characters without spaces.`);
  }
  return raw;
}

/** `testBuild`: whether this is a build made for tests (license-keys.ts); a parameter so tests can check a production build's choice. */
export function loadConfig(env: Record<string, string | undefined> = process.env, testBuild: boolean = BUILD_TEST_VENDOR_KEY !== null): CoordinatorConfig {
  const dataDir = resolve(env.KOFN_DATA_DIR ?? '.kofn');
  const offline = Number(env.KOFN_RELAY_OFFLINE_AFTER ?? 30);
  const tokenTtlS = Math.round(Math.min(MAX_TOKEN_LIFETIME_S, Math.max(MIN_TOKEN_TTL_S, positive(env.KOFN_TOKEN_TTL_SECONDS, MAX_TOKEN_LIFETIME_S))));
  return {
    databaseUrl: nonEmpty(env.DATABASE_URL),
    dataDir,
    migrationsFolder: resolve(env.KOFN_MIGRATIONS_DIR ?? 'drizzle'),
    relayEnrollmentsFile: nonEmpty(env.KOFN_RELAY_ENROLLMENTS),
    relayOfflineAfterMs: (Number.isFinite(offline) && offline > 0 ? offline : 30) * 1000,
    reservationTtlMs: positive(env.KOFN_RESERVATION_HOURS, 24) * 3600_000,
    renewalMs: positive(env.KOFN_RENEWAL_DAYS, 30) * 86_400_000,
    expirationMs: positive(env.KOFN_EXPIRATION_DAYS, 365) * 86_400_000,
    checkingMs: positive(env.KOFN_CHECKING_MINUTES, 60) * 60_000,
    renewalConcurrency: Math.max(1, Math.floor(positive(env.KOFN_RENEWAL_CONCURRENCY, 2))),
    licensePath: licenseArg() ?? env.KOFN_LICENSE,
    trustedProxies: (env.KOFN_TRUSTED_PROXIES ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    metricsToken: metricsToken(env.KOFN_METRICS_TOKEN),
    trashMs: positive(env.KOFN_TRASH_DAYS, 30) * 86_400_000,
    tokenTtlS,
    renewalGraceMs: renewalGrace(env.KOFN_TEST_RENEWAL_GRACE_SECONDS, tokenTtlS, testBuild),
    relayTimeouts: {
      headersMs: positive(env.KOFN_RELAY_TIMEOUT_HEADERS, DEFAULT_RELAY_TIMEOUTS.headersMs / 1000) * 1000,
      putHeadersMs: positive(env.KOFN_RELAY_TIMEOUT_PUT, DEFAULT_RELAY_TIMEOUTS.putHeadersMs / 1000) * 1000,
      idleMs: positive(env.KOFN_RELAY_TIMEOUT_IDLE, DEFAULT_RELAY_TIMEOUTS.idleMs / 1000) * 1000,
      totalMs: positive(env.KOFN_RELAY_TIMEOUT_TOTAL, DEFAULT_RELAY_TIMEOUTS.totalMs / 1000) * 1000
    }
  };
}
