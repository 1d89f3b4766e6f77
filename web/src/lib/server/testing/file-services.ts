/**
 * Test fixture for the file-service suites (files, reservations, capabilities, usage): one database of
 * `describeDatabases`, three real relay processes, two users (alice, bob) with an unlimited licence copy
 * each suite may tighten. Registers its own beforeAll/afterAll; read the fields inside tests.
 */
import { afterAll, beforeAll } from 'vitest';
import type { Database } from '../db/index.js';
import { createUser, type User } from '../auth.js';
import { ensureSigningKey } from '../signing-keys.js';
import { loadConfig } from '../config.js';
import { UNLICENSED, type License } from '../license.js';
import type { Ctx } from '../file-access.js';
import { startRelays, type TestRelay } from './relays.js';

export interface FileServices {
  database: Database & { drop: () => Promise<void> };
  relays: TestRelay[];
  alice: Ctx;
  bob: Ctx;
  license: License;
}

export function useFileServices(open: () => Promise<Database & { drop: () => Promise<void> }>, relayCount = 3): FileServices {
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits } };
  // Filled by beforeAll; tests only read it after that ran.
  const fx = { license } as FileServices;
  beforeAll(
    async () => {
      fx.database = await open();
      const key = await ensureSigningKey(fx.database.db);
      fx.relays = await startRelays(fx.database.db, relayCount);
      const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
      const mk = async (email: string): Promise<User> => createUser(fx.database.db, { email, displayName: email, password: 'password 123', role: 'user' }, 10);
      fx.alice = { db: fx.database.db, user: await mk('alice@x.test'), license, key, config };
      fx.bob = { db: fx.database.db, user: await mk('bob@x.test'), license, key, config };
      // A database and relay processes started on a CPU-bound CI machine: nine relays once took over 60 s.
    },
    60_000 + relayCount * 15_000
  );
  afterAll(async () => {
    await Promise.all((fx.relays ?? []).map((r) => r.stop()));
    await fx.database?.drop();
  });
  return fx;
}

/** The code of the KofnError a promise rejects with (undefined when it resolves). */
export const errorCode = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (err: unknown) => (err as { code?: string }).code
  );

/** The message of the error a promise rejects with (undefined when it resolves). */
export const errorMessage = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (err: unknown) => (err as Error).message
  );
