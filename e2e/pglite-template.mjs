#!/usr/bin/env node
/**
 * `node e2e/pglite-template.mjs DIR`: a PGlite database folder with kofn's schema and no rows (PGlite's initdb,
 * then the coordinator's migrations, web/drizzle, by the same drizzle migrator and with the same pg_trgm
 * extension the coordinator opens it with, web/src/lib/server/db/index.ts) for the e2e stacks to start from
 * (e2e/stack.ts pgliteTemplate; each stack copies it to its DATA_DIR/db). The coordinator then finds every
 * migration applied and makes its own keys and accounts on its first start, as it would on a new folder.
 * Measured on a 2-core machine under load (load average 20): PGlite's initdb of a new folder took 29 s, opening a
 * copied one 1.2 s (copying it 0.5 s); on a quiet machine the migrations took 1.5 of a coordinator's 3.3 CPU
 * seconds to start, paid again by each of the suite's many private stacks. The shared stack still starts from
 * nothing (global-setup.ts), so a true first start, initdb and migrations included, stays covered.
 * Same @electric-sql/pglite and drizzle-orm packages as the coordinator's (web/build imports them from node_modules).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node e2e/pglite-template.mjs DIR');
const db = new PGlite(dir, { extensions: { pg_trgm } });
await db.waitReady;
await migrate(drizzle(db), { migrationsFolder: join(dirname(fileURLToPath(import.meta.url)), '..', 'web', 'drizzle') });
await db.query('select 1');
await db.close();
