#!/usr/bin/env node
/**
 * Backup and restore of the coordinator's database (issue #22; procedure and what it covers in
 * shared/docs/operations.md).
 *
 *   node web/scripts/kofn-backup.mjs backup  --out FILE [--data-dir .kofn]
 *   node web/scripts/kofn-backup.mjs restore --in FILE  [--data-dir .kofn]
 *
 * PostgreSQL (DATABASE_URL set): `pg_dump --format=custom`, taken while coordinators run (pg_dump reads one
 * consistent snapshot, PostgreSQL docs "SQL Dump"); restore with `pg_restore --single-transaction` into an
 * empty database (a restore over live data would mix two states, so a non-empty database is refused).
 * PGlite (no DATABASE_URL): PGlite's own dump of its data folder (`dumpDataDir`, a gzipped tar), taken with
 * the coordinator stopped: PGlite is one process's database and a second process opening it could corrupt
 * it, so a folder still marked open (postmaster.pid) is refused. Restore loads it into an absent folder.
 *
 * Shares are not in the database: they stay on the relays. The secret key (`<data-dir>/secret.key`, or
 * KOFN_SECRET_KEY) that seals two-step sign-in secrets is not in the database either: keep a copy apart.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readSync, closeSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

class UsageError extends Error {
  code = 'INVALID_ARGUMENT';
}

function parseArgs(argv) {
  const [command, ...rest] = argv;
  if (command !== 'backup' && command !== 'restore') throw new UsageError('usage: kofn-backup.mjs backup --out FILE | restore --in FILE [--data-dir DIR]');
  const opts = { command, file: undefined, dataDir: resolve(process.env.KOFN_DATA_DIR ?? '.kofn') };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if ((a === '--out' && command === 'backup') || (a === '--in' && command === 'restore')) opts.file = resolve(rest[++i] ?? '');
    else if (a === '--data-dir') opts.dataDir = resolve(rest[++i] ?? '');
    else throw new UsageError(`unknown argument ${a}`);
  }
  if (!opts.file) throw new UsageError(command === 'backup' ? 'backup needs --out FILE' : 'restore needs --in FILE');
  return opts;
}

function run(cmd, args) {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.once('error', (e) => rej(new Error(`${cmd} could not start (${e.code}): install PostgreSQL's client tools (Debian: postgresql-client)`)));
    child.once('exit', (code) => (code === 0 ? res() : rej(new Error(`${cmd} failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' ')}`))));
  });
}

/** The first bytes of a backup say which kind it is: pg_dump's custom format starts with "PGDMP", gzip with 1f 8b. */
function kindOf(file) {
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(5);
  try {
    readSync(fd, head, 0, 5, 0);
  } finally {
    closeSync(fd);
  }
  if (head.toString('latin1') === 'PGDMP') return 'postgres';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'pglite';
  return 'unknown';
}

/** Loaded only for its backend, so a PostgreSQL operator's backup never loads PGlite's WASM. */
async function pglite() {
  const { PGlite } = await import('@electric-sql/pglite');
  return PGlite;
}

async function backup({ file, dataDir }) {
  const url = process.env.DATABASE_URL;
  if (url) {
    await run('pg_dump', ['--format=custom', '--no-owner', '--no-privileges', '--file', file, '--dbname', url]);
  } else {
    const dbDir = join(dataDir, 'db');
    if (!existsSync(join(dbDir, 'PG_VERSION'))) throw new Error(`no PGlite database at ${dbDir} (set --data-dir, or DATABASE_URL for PostgreSQL)`);
    if (existsSync(join(dbDir, 'postmaster.pid'))) {
      throw new Error(`the database at ${dbDir} is open: stop kofn first (a PGlite backup is taken offline). If kofn is not running, it was not stopped cleanly: start and stop it once.`);
    }
    const PGlite = await pglite();
    const db = new PGlite(dbDir);
    try {
      // dumpDataDir before the instance is ready never settles (PGlite 0.5).
      await db.waitReady;
      const dump = await db.dumpDataDir('gzip');
      writeFileSync(file, Buffer.from(await dump.arrayBuffer()), { mode: 0o600 });
    } finally {
      await db.close();
    }
  }
  process.stdout.write(`kofn: database backed up to ${file}.\nKeep the secret key apart from it: ${join(dataDir, 'secret.key')} (unless KOFN_SECRET_KEY is set).\n`);
}

async function restore({ file, dataDir }) {
  if (!existsSync(file)) throw new Error(`no backup at ${file}`);
  const kind = kindOf(file);
  const url = process.env.DATABASE_URL;
  if (kind === 'unknown') throw new Error(`${file} is not a kofn backup (neither a pg_dump custom-format file nor a PGlite dump)`);
  if (url && kind !== 'postgres') throw new Error(`${file} is a PGlite backup: restore it without DATABASE_URL`);
  if (!url && kind !== 'pglite') throw new Error(`${file} is a PostgreSQL backup: set DATABASE_URL to an empty database to restore it`);
  if (url) {
    const { default: postgres } = await import('postgres');
    const sql = postgres(url, { max: 1, onnotice: () => undefined, connect_timeout: 10 });
    try {
      const [{ n }] = await sql`select count(*)::int as n from information_schema.tables where table_schema not in ('pg_catalog', 'information_schema')`;
      if (n > 0) throw new Error('the database is not empty: restore into a new, empty database (createdb), then point DATABASE_URL at it');
    } finally {
      await sql.end({ timeout: 5 });
    }
    await run('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', '--dbname', url, file]);
  } else {
    const dbDir = join(dataDir, 'db');
    if (existsSync(dbDir) && readdirSync(dbDir).length > 0) throw new Error(`${dbDir} is not empty: move it away first (kofn must be stopped)`);
    mkdirSync(dbDir, { recursive: true });
    const PGlite = await pglite();
    const db = new PGlite(dbDir, { loadDataDir: new Blob([readFileSync(file)]) });
    try {
      await db.query('select 1');
    } finally {
      await db.close();
    }
  }
  process.stdout.write(`kofn: database restored from ${file}. Start kofn: migrations newer than the backup run at start.\n`);
}

try {
  const opts = parseArgs(process.argv.slice(2));
  await (opts.command === 'backup' ? backup(opts) : restore(opts));
} catch (err) {
  process.stderr.write(`kofn-backup: ${err.message}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
}
