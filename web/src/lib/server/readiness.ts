/**
 * Whether this coordinator can serve requests now (GET /api/health/ready, issue #22), for load balancers
 * and orchestrators (Kubernetes' readiness probe, compose health checks): the database answers a query,
 * and the data folder takes a write (PGlite's files and the secret key live there; a full or read-only
 * disk stops both). Each check is bounded by READY_TIMEOUT_MS: a hung database is a failed check, not a
 * hung probe. Liveness (GET /api/health/live) checks none of this, so a database outage marks replicas
 * unready without getting them restarted.
 */
import { unlink, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { randomHex } from '@kofn/shared';
import type { Database } from './db/index.js';

export const READY_TIMEOUT_MS = 2000;

function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Error code only (ECONNREFUSED, ENOSPC, 57P03...): messages may carry paths or connection strings. */
const codeOf = (err: unknown): string => {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'ERROR';
};

export async function readiness(database: Database, dataDir: string, timeoutMs = READY_TIMEOUT_MS): Promise<{ ready: boolean; checks: Record<string, string> }> {
  const checks: Record<string, string> = {};
  try {
    await bounded(database.db.execute(sql`select 1`), timeoutMs);
    checks.database = 'ok';
  } catch (err) {
    checks.database = `no answer (${codeOf(err)})`;
  }
  const probe = join(dataDir, `.ready-${randomHex(8)}`);
  try {
    await bounded(
      mkdir(dataDir, { recursive: true }).then(() => writeFile(probe, 'ready').then(() => unlink(probe))),
      timeoutMs
    );
    checks.dataDir = 'ok';
  } catch (err) {
    checks.dataDir = `not writable (${codeOf(err)})`;
  }
  return { ready: Object.values(checks).every((v) => v === 'ok'), checks };
}
