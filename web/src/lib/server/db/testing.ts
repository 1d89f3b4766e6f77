/**
 * Test helper: the databases every coordinator suite runs on. PGlite (in memory) always; PostgreSQL when
 * DATABASE_URL is set, each suite in a fresh database of its own that is dropped afterwards. Without
 * DATABASE_URL the PostgreSQL variant is still declared, as skipped, so the quota lock and SKIP LOCKED
 * tests that only PostgreSQL proves show up in the totals instead of vanishing (issue #24, survivor 5).
 * `npm test` (e2e/run-all.mjs) sets DATABASE_URL itself when it finds a PostgreSQL on 127.0.0.1:5432.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { describe } from 'vitest';
import { openDatabase, type Database } from './index.js';
import { randomHex } from '@kofn/shared';
import { repoFile } from '../testing/repo-file.js';

export interface TestDatabase {
  name: 'pglite' | 'postgres';
  open: () => Promise<Database & { drop: () => Promise<void> }>;
  /** Why this variant cannot run here; its tests are then declared skipped. */
  skipped?: string;
}

export const NO_POSTGRES = 'no PostgreSQL: DATABASE_URL is not set';

const migrationsFolder = resolve(import.meta.dirname, '../../../../drizzle');
const cacheFolder = resolve(import.meta.dirname, '../../../../../node_modules/.cache/kofn-vitest');

/**
 * An empty PGlite database with every migration applied, dumped once and kept on disk (as ESLint keeps its
 * cache in node_modules/.cache), keyed by the PGlite version and the migrations' bytes. Each suite's
 * in-memory database loads it instead of running initdb and the migrations again: about 1.3 s of CPU against
 * 3.9 s per database, measured here, over about a hundred databases a run on a CPU-bound 2-core CI machine.
 * The migrations still run on the loaded copy (a no-op), so a stale dump could not hide a new one.
 */
let template: Promise<Blob> | undefined;
function pgliteTemplate(): Promise<Blob> {
  template ??= (async () => {
    // Found by walking up, not by a fixed number of `..`: Stryker runs the suites from a copy of web/ two
    // levels deeper (testing/repo-file.ts), where a fixed path named a file that does not exist.
    const { version } = JSON.parse(readFileSync(repoFile('node_modules/@electric-sql/pglite/package.json', import.meta.dirname), 'utf8')) as { version: string };
    const hash = createHash('sha256').update(version);
    for (const name of readdirSync(migrationsFolder, { recursive: true, encoding: 'utf8' }).sort()) {
      const path = join(migrationsFolder, name);
      if (name.endsWith('.sql') || name.endsWith('.json')) hash.update(name).update(readFileSync(path));
    }
    const file = join(cacheFolder, `pglite-${hash.digest('hex').slice(0, 16)}.tar`);
    if (existsSync(file)) return new Blob([readFileSync(file)]);
    const fresh = await openDatabase({ migrationsFolder });
    // The `PGlite` client is what dumps; openDatabase keeps it inside drizzle's session.
    const client = (fresh.db as unknown as { $client: PGlite }).$client;
    const dump = await client.dumpDataDir('none');
    await fresh.close();
    mkdirSync(cacheFolder, { recursive: true });
    // Written under a name of its own, then renamed: two workers making it at once never see half a file.
    const making = `${file}.${randomHex(6)}`;
    writeFileSync(making, Buffer.from(await dump.arrayBuffer()));
    renameSync(making, file);
    return dump;
  })();
  return template;
}

export function testDatabases(): TestDatabase[] {
  const list: TestDatabase[] = [
    {
      name: 'pglite',
      open: async () => {
        const database = await openDatabase({ migrationsFolder, loadDataDir: await pgliteTemplate() });
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
 *
 * `describeDatabases(title, { once: true }, body)`: a suite whose cost is its real relays and whose subject is
 * theirs (renewal, repair, relay lifecycle, large folders), not the database's, runs on one database:
 * PostgreSQL where there is one (real concurrency: its locks and SKIP LOCKED), PGlite otherwise. PGlite is
 * PostgreSQL compiled to WebAssembly, the same SQL on the same schema and migrations; what only PGlite has (one
 * connection, its start, its extension loading) is proved by the suites that stay on both and by the e2e
 * stacks, which run on PGlite. Run twice, each of these suites cost a CPU-bound 2-core CI run 5-80 s more (the
 * sixteen together about 340 s of the coordinator suite's 42 minutes); KOFN_TEST_ALL_DATABASES=1 runs them on
 * both again.
 */
export function describeDatabases(title: string, body: (db: TestDatabase) => void): void;
export function describeDatabases(title: string, opts: { once?: boolean }, body: (db: TestDatabase) => void): void;
export function describeDatabases(title: string, ...args: [(db: TestDatabase) => void] | [{ once?: boolean }, (db: TestDatabase) => void]): void {
  const [opts, body] = args.length === 1 ? [{}, args[0]] : args;
  const all = testDatabases();
  const postgresHere = all.some((db) => db.name === 'postgres' && db.skipped === undefined);
  // KOFN_TEST_ONE_DATABASE=1 (set by `npm test`, e2e/run-all.mjs): every suite runs once, on PostgreSQL when
  // there is one. A CI run on a 2-core machine took 38 minutes, CPU-bound; the 222 tests run again on PGlite
  // were 162 s of the coordinator suite's critical lane. PGlite stays proved by the end-to-end stacks (all on
  // PGlite), the PGlite-only suites (retrieve-epoch, federation), the migration upgrade test, and by `npm test`
  // without PostgreSQL, which runs everything on it.
  const once = (opts.once === true || process.env.KOFN_TEST_ONE_DATABASE === '1') && process.env.KOFN_TEST_ALL_DATABASES !== '1';
  for (const db of once ? all.filter((d) => d.name === (postgresHere ? 'postgres' : 'pglite')) : all) {
    const named = title.replaceAll('$name', db.name) + (db.skipped ? ` (skipped: ${db.skipped})` : '');
    describe.skipIf(db.skipped !== undefined)(named, () => body(db));
  }
}
