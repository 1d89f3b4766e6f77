/**
 * The coordinator process's single context: configuration and the open database, created once by the
 * `init` server hook (before the first request) and shared by every route.
 */
import { loadConfig, type CoordinatorConfig } from './config.js';
import { openDatabase, type Database } from './db/index.js';
import { join } from 'node:path';
import { ensureSigningKey, type SigningKey } from './signing-keys.js';

export interface Coordinator {
  config: CoordinatorConfig;
  database: Database;
  signingKey: SigningKey;
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
    return { config, database, signingKey: await ensureSigningKey(database.db) };
  })();
  return current;
}
