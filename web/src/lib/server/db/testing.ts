/**
 * Test helper: the databases every coordinator suite runs on. PGlite (in memory) always; PostgreSQL when
 * DATABASE_URL is set, each suite in a fresh database of its own that is dropped afterwards. Without
 * DATABASE_URL the PostgreSQL variant is still declared, as skipped, so the quota lock and SKIP LOCKED
 * tests that only PostgreSQL proves show up in the totals instead of vanishing (issue #24, survivor 5).
 * `npm test` (e2e/run-all.mjs) sets DATABASE_URL itself when it finds a PostgreSQL on 127.0.0.1:5432.
 */
import { resolve } from 'node:path';
import postgres from 'postgres';
import { describe } from 'vitest';
import { openDatabase, type Database } from './index.js';
import { randomHex } from '@kofn/shared';

export interface TestDatabase {
  name: 'pglite' | 'postgres';
  open: () => Promise<Database & { drop: () => Promise<void> }>;
  /** Why this variant cannot run here; its tests are then declared skipped. */
  skipped?: string;
}

export const NO_POSTGRES = 'no PostgreSQL: DATABASE_URL is not set';

const migrationsFolder = resolve(import.meta.dirname, '../../../../drizzle');

export function testDatabases(): TestDatabase[] {
  const list: TestDatabase[] = [
    {
      name: 'pglite',
      open: async () => {
        const database = await openDatabase({ migrationsFolder });
        return { ...database, drop: database.close };
      }
    }
  ];
  const url = process.env.DATABASE_URL;
  if (url) {
    list.push({
      name: 'postgres',
      open: async () => {
        const dbName = `kofn_test_${randomHex(6)}`;
        const admin = postgres(url, { max: 1, onnotice: () => undefined });
        await admin.unsafe(`create database ${dbName}`);
        const target = new URL(url);
        target.pathname = `/${dbName}`;
        const database = await openDatabase({ url: target.toString(), migrationsFolder });
        return {
          ...database,
          drop: async () => {
            await database.close();
            await admin.unsafe(`drop database if exists ${dbName} with (force)`);
            await admin.end({ timeout: 5 });
          }
        };
      }
    });
  } else {
    list.push({
      name: 'postgres',
      skipped: NO_POSTGRES,
      open: () => Promise.reject(new Error(NO_POSTGRES))
    });
  }
  return list;
}

/**
 * `describe.each(testDatabases())` that skips (and so counts) a variant that cannot run. `$name` in the
 * title is the database's name; a skipped variant's title says why it was skipped.
 */
export function describeDatabases(title: string, body: (db: TestDatabase) => void): void {
  for (const db of testDatabases()) {
    const named = title.replaceAll('$name', db.name) + (db.skipped ? ` (skipped: ${db.skipped})` : '');
    describe.skipIf(db.skipped !== undefined)(named, () => body(db));
  }
}
