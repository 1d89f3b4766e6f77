/**
 * A suite's database seen through a drizzle instance that records each statement it sends, on the same
 * connection: what a test can show of a statement whose effect needs two connections (a row lock, an advisory
 * lock) on PGlite, which has one (issue #24's mutation testing runs on PGlite only).
 */
import type { PGlite } from '@electric-sql/pglite';
import type { Sql } from 'postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import type { Db } from '../db/index.js';
import * as schema from '../db/schema.js';

export function loggedDb(db: Db, name: string): { db: Db; statements: string[] } {
  const statements: string[] = [];
  const logger = { logQuery: (query: string) => void statements.push(query) };
  // drizzle keeps its client as `$client`, which its Db type does not name.
  const client = (db as unknown as { $client: PGlite | Sql }).$client;
  return { db: name === 'pglite' ? drizzlePglite(client as PGlite, { schema, logger }) : drizzlePostgres(client as Sql, { schema, logger }), statements };
}
