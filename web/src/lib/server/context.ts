/**
 * The coordinator process's single context: configuration, the open database, the signing key, the
 * licence and the job scheduler, created once by the `init` server hook and shared by every route.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type CoordinatorConfig } from './config.js';
import { openDatabase, type Database } from './db/index.js';
import { ensureSigningKey, type SigningKey } from './signing-keys.js';
import { LicenseClock, loadLicense, type License } from './license.js';
import { BUILD_TEST_VENDOR_KEY } from './license-keys.js';
import { JobRunner } from './jobs.js';
import { jobHandlers, runMaintenance } from './maintenance.js';
import { renewalHandlers, scheduleRenewals } from './renewal.js';
import { replaceHandlers } from './renewal-replace.js';
import { importProvisionedEnrollments } from './relays.js';
import { healthJobHandlers, scheduleChecks } from './health.js';
import { repairJobHandlers } from './repair.js';
import { lifecycleHandlers, resumeDrains } from './relay-lifecycle.js';
import { rotateFromEnvironment } from './secret-key-rotation.js';
import { createCoordinatorMetrics, type CoordinatorMetrics } from './metrics.js';

/** The longest an idle job runner waits between polls (JobRunner's maxIdleMs). */
const IDLE_POLL_MS = 8000;

export interface Coordinator {
  config: CoordinatorConfig;
  database: Database;
  signingKey: SigningKey;
  /** The licence in force now: a getter, so expiry applies at run time (LicenseClock). */
  readonly license: License;
  jobs: JobRunner;
  /** Prometheus metrics of this process and of the cluster's state (metrics.ts). */
  metrics: CoordinatorMetrics;
}

let current: Promise<Coordinator> | undefined;

export function coordinator(): Promise<Coordinator> {
  current ??= (async () => {
    const config = loadConfig();
    const database = await openDatabase({
      url: config.databaseUrl,
      dataDir: join(config.dataDir, 'db'),
      migrationsFolder: config.migrationsFolder
    });
    const signingKey = await ensureSigningKey(database.db);
    // KOFN_SECRET_KEY_OLD: re-seal the TOTP secrets under the key now in force before serving (one transaction).
    const rotated = await rotateFromEnvironment(database.db, config.dataDir);
    if (rotated) console.log(`kofn: secret key rotated: ${rotated.resealed} secret(s) (TOTP, federation link tokens) sealed again under the new key, ${rotated.alreadyNew} already under it.`);
    if (config.relayEnrollmentsFile) {
      const added = await importProvisionedEnrollments(database.db, JSON.parse(readFileSync(config.relayEnrollmentsFile, 'utf8')) as unknown);
      if (added > 0) console.log(`kofn: ${added} provisioned relay enrollment token(s) imported.`);
    }
    const log = { info: (m: string) => console.log(m), error: (m: string) => console.error(m) };
    if (BUILD_TEST_VENDOR_KEY !== null) console.warn('kofn: this is a build made for tests: it also accepts licences signed with the TEST-ONLY key.');
    const license = new LicenseClock(loadLicense(config.licensePath, log), log);
    // Proactive renewal (#15) and file health and repair (#16): their job handlers; the scans run from maintenance.
    const metrics = createCoordinatorMetrics({ db: database.db, relayOfflineAfterMs: config.relayOfflineAfterMs, renewalMs: config.renewalMs, processMetrics: true });
    const renewal = renewalHandlers({ db: database.db, key: signingKey, timeouts: config.relayTimeouts, graceMs: config.renewalGraceMs });
    const handlers = metrics.instrumentHandlers({
      ...jobHandlers(database.db, signingKey),
      ...renewal,
      ...replaceHandlers({ db: database.db, key: signingKey, timeouts: config.relayTimeouts, graceMs: config.renewalGraceMs }),
      ...healthJobHandlers(database.db, signingKey, config.relayTimeouts),
      ...repairJobHandlers(database.db, signingKey, config.relayTimeouts),
      ...lifecycleHandlers({ db: database.db, key: signingKey, offlineAfterMs: config.relayOfflineAfterMs, timeouts: config.relayTimeouts })
    });
    let lastCheck = 0;
    // Polls every second while there is work and backs off to every IDLE_POLL_MS when idle (jobs.ts: idle polls
    // on PGlite were most of an idle coordinator's CPU); a job enqueued in this process wakes it at once.
    const jobs = new JobRunner(
      database.db,
      `${hostname()}:${process.pid}`,
      handlers,
      async () => {
        await runMaintenance(database.db, config.reservationTtlMs, new Date(), config.trashMs);
        // File health (issue #16): files whose shares were not checked within the `checking` period.
        await scheduleChecks(database.db, config.checkingMs);
        // Relay drains and losses (#16) whose relay still holds shares (an upload committed after they began).
        await resumeDrains(database.db);
        if (Date.now() - lastCheck >= config.checkingMs) {
          lastCheck = Date.now();
          await scheduleRenewals(database.db, config.renewalMs, config.renewalConcurrency);
        }
      },
      1000,
      60_000,
      IDLE_POLL_MS
    );
    return {
      config,
      database,
      signingKey,
      get license() {
        return license.current();
      },
      jobs,
      metrics
    };
  })();
  return current;
}
