/**
 * A fresh PostgreSQL database for one private stack (e2e/stack.ts `databaseUrl`), made and dropped by the
 * spec, as the coordinator suites do (web/src/lib/server/db/testing.ts): the server is the one `npm test`
 * finds (find-postgres.mjs: DATABASE_URL, else 127.0.0.1:5432 if it answers). When there is none, the
 * reason is returned so the spec reports itself skipped with it instead of passing silently.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { findPostgres, shown } from './find-postgres.mjs';

export interface PostgresDatabase {
  /** The new database's URL, for DATABASE_URL. */
  url: string;
  /** Runs one query in it (to check where the coordinator wrote). */
  query: <T extends object>(text: string) => Promise<T[]>;
  /** Drops it (with force: the coordinator may still hold connections if it was killed). */
  drop: () => Promise<void>;
}

export async function freshPostgresDatabase(): Promise<PostgresDatabase | { skipped: string }> {
  const found = await findPostgres(process.env);
  if (!found.url) return { skipped: `PostgreSQL not reachable (${found.how})` };
  const name = `kofn_e2e_${randomBytes(6).toString('hex')}`;
  const server = postgres(found.url, { max: 1, connect_timeout: 10, onnotice: () => undefined });
  try {
    await server.unsafe(`create database ${name}`);
  } catch (err) {
    await server.end({ timeout: 5 });
    throw new Error(`could not create a database on ${shown(found.url)}: ${(err as Error).message}`, { cause: err });
  }
  const target = new URL(found.url);
  target.pathname = `/${name}`;
  const inside = postgres(target.toString(), { max: 1, connect_timeout: 10, onnotice: () => undefined });
  return {
    url: target.toString(),
    query: async <T extends object>(text: string) => [...(await inside.unsafe<T[]>(text))],
    drop: async () => {
      await inside.end({ timeout: 5 });
      await server.unsafe(`drop database if exists ${name} with (force)`);
      await server.end({ timeout: 5 });
    }
  };
}
