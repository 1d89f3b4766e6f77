/**
 * Test helper: the databases every coordinator suite runs on. PGlite (in memory) always; PostgreSQL too
 * when DATABASE_URL is set, each suite in a fresh database of its own that is dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import postgres from 'postgres';
import { openDatabase, type Database } from './index.js';

export interface TestDatabase {
  name: 'pglite' | 'postgres';
  open: () => Promise<Database & { drop: () => Promise<void> }>;
}

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
        const dbName = `kofn_test_${randomBytes(6).toString('hex')}`;
        const admin = postgres(url, { max: 1, onnotice: () => {} });
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
  }
  return list;
}
