/**
 * What the coordinator benches share: the databases this run has, and per database a coordinator context
 * (a signing key, a user, no licence limits) with three real relay processes, made before the bench's tests
 * and stopped after them, printing the collected figure lines after the last database.
 */
import { afterAll, beforeAll } from 'vitest';
import { testDatabases, type TestDatabase } from '../src/lib/server/db/testing.js';
import type { Database } from '../src/lib/server/db/index.js';
import { createUser } from '../src/lib/server/auth.js';
import { ensureSigningKey } from '../src/lib/server/signing-keys.js';
import { loadConfig } from '../src/lib/server/config.js';
import { UNLICENSED } from '../src/lib/server/license.js';
import type { Ctx } from '../src/lib/server/file-access.js';
import { startRelays, type TestRelay } from '../src/lib/server/testing/relays.js';

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/**
 * The databases this run has. Without DATABASE_URL, testDatabases() lists PostgreSQL as skipped (for the
 * suites' describeDatabases); iterating over it here failed its beforeAll, then its afterAll on relays that
 * never started, and the figures (printed after the last database) were never printed.
 */
export const benchDatabases = testDatabases().filter((d) => d.skipped === undefined);

export interface BenchStack {
  ctx: Ctx;
  relays: TestRelay[];
}

/** Registers the stack's start and stop in the enclosing describe; its parts exist once the tests run. */
export function useBenchStack({ name, open }: TestDatabase, lines: string[]): BenchStack {
  // Filled in by beforeAll: the tests run after it.
  const stack = { relays: [] } as Partial<BenchStack> as BenchStack;
  let database: (Database & { drop: () => Promise<void> }) | undefined;
  beforeAll(async () => {
    const db = await open();
    database = db;
    const key = await ensureSigningKey(db.db);
    stack.relays = await startRelays(db.db, 3);
    const user = await createUser(db.db, { email: 'bench@x.test', displayName: 'Bench', password: 'bench password', role: 'user' }, 10);
    stack.ctx = { db: db.db, user, license: { ...UNLICENSED, limits: { ...UNLICENSED.limits } }, key, config: loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' }) };
  });
  // Stopping the relays removes their data folders (tens of thousands of share files after a bench), which
  // took over the default 120 s on a loaded machine; the figures are printed first, so they are not lost.
  afterAll(async () => {
    if (name === benchDatabases.at(-1)?.name) process.stdout.write(`\n${lines.join('\n')}\n`);
    await Promise.all(stack.relays.map((r) => r.stop()));
    await database?.drop();
  }, 900_000);
  return stack;
}
