/**
 * Upgrades and concurrent starts (issue #22). A database made by the previous release's migrations (every
 * migration but the newest; the lead's merge renumbers, so this stays "the one before now") is opened by
 * this release: the newest migrations run at start, and rows written under the old schema read back through
 * today's schema. On PostgreSQL, several coordinators starting at once on one empty database all come up,
 * and each migration is applied once (openDatabase holds a pg advisory lock while migrating).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { eq, sql } from 'drizzle-orm';
import { randomHex, randomUuid } from '@kofn/shared';
import { openDatabase, type Database } from './index.js';
import { apiTokens, users } from './schema.js';
import { NO_POSTGRES } from './testing.js';

const migrationsFolder = resolve(import.meta.dirname, '../../../../drizzle');
const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta/_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> };
const work = mkdtempSync(join(tmpdir(), 'kofn-migrations-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The migration set of the previous release: the folder as it was before the newest migration. */
function previousRelease(): string {
  const dir = join(work, `previous-${randomHex(4)}`);
  mkdirSync(join(dir, 'meta'), { recursive: true });
  const entries = journal.entries.slice(0, -1);
  for (const e of entries) cpSync(join(migrationsFolder, `${e.tag}.sql`), join(dir, `${e.tag}.sql`));
  writeFileSync(join(dir, 'meta/_journal.json'), JSON.stringify({ ...journal, entries }));
  return dir;
}

/** Rows written by the old release, in its own columns (raw SQL: today's schema may have more). */
async function writeOldRows(database: Database): Promise<{ userId: string; tokenId: string }> {
  const userId = randomUuid();
  const tokenId = randomHex(8);
  await database.db.execute(sql`insert into users (id, email, display_name, role) values (${userId}, ${`old-${tokenId}@kofn.test`}, 'Old Release', 'admin')`);
  await database.db.execute(sql`insert into api_tokens (id, handle, user_id, name) values (${tokenId}, ${`h-${tokenId}`}, ${userId}, 'made before the upgrade')`);
  return { userId, tokenId };
}

async function expectUpgraded(database: Database, rows: { userId: string; tokenId: string }): Promise<void> {
  const [applied] = await database.db.select({ n: sql<number>`count(*)::int` }).from(sql`drizzle.__drizzle_migrations`);
  expect(applied?.n).toBe(journal.entries.length);
  // Read through today's schema: every column it names exists, and the old rows are intact.
  const [user] = await database.db.select().from(users).where(eq(users.id, rows.userId));
  expect(user).toMatchObject({ displayName: 'Old Release', role: 'admin', disabled: false });
  const [token] = await database.db.select().from(apiTokens).where(eq(apiTokens.id, rows.tokenId));
  expect(token).toMatchObject({ userId: rows.userId, name: 'made before the upgrade' });
}

describe('upgrade from the previous release on PGlite', () => {
  it("runs the newest migrations at start and keeps the old release's rows", async () => {
    const dataDir = join(work, `pglite-${randomHex(4)}`);
    const old = await openDatabase({ dataDir, migrationsFolder: previousRelease() });
    const rows = await writeOldRows(old);
    await old.close();
    const upgraded = await openDatabase({ dataDir, migrationsFolder });
    try {
      await expectUpgraded(upgraded, rows);
    } finally {
      await upgraded.close();
    }
    // Two PGlite starts from disk (initdb, then a reopen): 20-30 s on a loaded machine.
  }, 180_000);
});

const url = process.env.DATABASE_URL;
describe.skipIf(!url)(`upgrade and concurrent starts on PostgreSQL${url ? '' : ` (skipped: ${NO_POSTGRES})`}`, () => {
  async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
    const name = `kofn_test_mig_${randomHex(6)}`;
    const admin = postgres(url!, { max: 1, onnotice: () => undefined });
    await admin.unsafe(`create database ${name}`);
    const target = new URL(url!);
    target.pathname = `/${name}`;
    return {
      url: target.toString(),
      drop: async () => {
        await admin.unsafe(`drop database if exists ${name} with (force)`);
        await admin.end({ timeout: 5 });
      }
    };
  }

  it("runs the newest migrations at start and keeps the old release's rows", async () => {
    const db = await freshDatabase();
    try {
      const old = await openDatabase({ url: db.url, migrationsFolder: previousRelease() });
      const rows = await writeOldRows(old);
      await old.close();
      const upgraded = await openDatabase({ url: db.url, migrationsFolder });
      try {
        await expectUpgraded(upgraded, rows);
      } finally {
        await upgraded.close();
      }
    } finally {
      await db.drop();
    }
  });

  it('four coordinators starting at once on one empty database all come up, each migration applied once', async () => {
    const db = await freshDatabase();
    const opened: Database[] = [];
    try {
      const results = await Promise.allSettled(Array.from({ length: 4 }, () => openDatabase({ url: db.url, migrationsFolder })));
      for (const r of results) if (r.status === 'fulfilled') opened.push(r.value);
      expect(results.filter((r) => r.status === 'rejected').map((r) => String(r.reason))).toEqual([]);
      const check = postgres(db.url, { max: 1, onnotice: () => undefined });
      try {
        const [row] = await check<Array<{ n: number; distinct: number }>>`select count(*)::int as n, count(distinct hash)::int as distinct from drizzle.__drizzle_migrations`;
        expect(row).toEqual({ n: journal.entries.length, distinct: journal.entries.length });
      } finally {
        await check.end({ timeout: 5 });
      }
    } finally {
      await Promise.all(opened.map((d) => d.close()));
      await db.drop();
    }
  });
});
