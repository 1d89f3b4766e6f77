#!/usr/bin/env node
/**
 * `node e2e/pglite-template.mjs DIR`: an empty PGlite database folder (PGlite's initdb, nothing of kofn's in
 * it: no schema, no rows) for the e2e stacks to start from (e2e/stack.ts pgliteTemplate; each stack copies it
 * to its DATA_DIR/db).
 * Measured on a 2-core machine under load (load average 20): PGlite's initdb of a new folder took 29 s, opening a copied
 * one 1.2 s (copying it 0.5 s); the coordinator still runs all its migrations and its whole first start on it.
 * Same @electric-sql/pglite package as the coordinator's (web/build imports it from node_modules).
 */
import { PGlite } from '@electric-sql/pglite';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node e2e/pglite-template.mjs DIR');
const db = new PGlite(dir);
await db.waitReady;
await db.query('select 1');
await db.close();
