/**
 * Opens the coordinator database: PostgreSQL through `postgres` when a URL is given, otherwise embedded
 * PGlite in a data directory (or in memory for tests). Both get the same schema and migrations.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import postgres from 'postgres';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import * as schema from './schema.js';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  close: () => Promise<void>;
}

export interface OpenOptions {
  /** PostgreSQL connection string; when absent, PGlite is used. */
  url?: string | undefined;
  /** PGlite data directory; absent means in memory. */
  dataDir?: string | undefined;
  migrationsFolder: string;
  /**
   * For in-memory PGlite: start from this dump of a database (PGlite `dumpDataDir`) instead of an empty
   * one; the migrations still run, and do nothing for those it already holds. Tests use it (db/testing.ts).
   */
  loadDataDir?: Blob | undefined;
}

// Any fixed 64-bit key: serialises migrations when several coordinator replicas start at once.
const MIGRATION_LOCK = 0x6b6f666e;

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  if (opts.url) {
    const client = postgres(opts.url, { max: 10, onnotice: () => undefined });
    const db = drizzlePostgres(client, { schema });
    const lock = await client.reserve();
    try {
      await lock`select pg_advisory_lock(${MIGRATION_LOCK})`;
      // The lock is held by the reserved session; the migration itself runs through the pool.
      await migratePostgres(db, { migrationsFolder: opts.migrationsFolder });
    } finally {
      await lock`select pg_advisory_unlock(${MIGRATION_LOCK})`;
      lock.release();
    }
    return { db, kind: 'postgres', close: () => client.end({ timeout: 5 }) };
  }
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  // pg_trgm: the file search's trigram index (migration 0018); PGlite bundles it but loads it only when asked.
  const extensions = { pg_trgm };
  const client = opts.dataDir ? new PGlite(opts.dataDir, { extensions }) : new PGlite({ extensions, ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}) });
  const db = drizzlePglite(client, { schema });
  await migratePglite(db, { migrationsFolder: opts.migrationsFolder });
  await db.execute(sql`select 1`);
  return { db, kind: 'pglite', close: () => client.close() };
}
