/**
 * Folder listing at scale (issue #18), on PGlite and (with DATABASE_URL) PostgreSQL: a user with 10,000
 * files in one folder (plus 200 subfolders), listed a page at a time (`GET /api/folders`, 100 items per
 * page, keyset cursor), against the whole-list baseline (`GET /api/files`, listFiles) measured in the same
 * run. Timed: the first page, a page deep in the folder (item ~9,000, reached by cursor), a search by name
 * over the account, and the whole walk. Medians of 11; prints, never asserts speed.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { testDatabases } from '../src/lib/server/db/testing.js';
import type { Database } from '../src/lib/server/db/index.js';
import { files, placements } from '../src/lib/server/db/schema.js';
import { createUser } from '../src/lib/server/auth.js';
import { ensureSigningKey } from '../src/lib/server/signing-keys.js';
import { loadConfig } from '../src/lib/server/config.js';
import { UNLICENSED } from '../src/lib/server/license.js';
import { listFiles } from '../src/lib/server/files.js';
import { createFolder, listFolder } from '../src/lib/server/folders.js';
import type { Ctx } from '../src/lib/server/file-access.js';
import { registerTestRelay } from '../src/lib/server/testing/relays.js';

const FILES = 10_000;
const RUNS = 11;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const lines: string[] = [];
const databases = testDatabases().filter((d) => d.skipped === undefined);

async function time(fn: () => Promise<unknown>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

describe.each(databases)('folders on $name', ({ name, open }) => {
  let database: (Database & { drop: () => Promise<void> }) | undefined;
  let ctx: Ctx;
  let folderId: string;

  beforeAll(async () => {
    const db = await open();
    database = db;
    const key = await ensureSigningKey(db.db);
    // Relay rows only (listing reads placements and relays; no share moves here).
    const relayIds = ['a', 'b', 'c'].map((x) => `bench-relay-${x}`);
    for (const id of relayIds) await registerTestRelay(db.db, { id, name: id, url: `http://127.0.0.1:9/${id}` });
    const user = await createUser(db.db, { email: 'bench@x.test', displayName: 'Bench', password: 'bench password', role: 'user' }, 10);
    ctx = { db: db.db, user, license: { ...UNLICENSED, limits: { ...UNLICENSED.limits } }, key, config: loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' }) };
    folderId = (await createFolder(ctx, { name: 'library' })).id;
    for (let i = 0; i < 200; i++) await createFolder(ctx, { name: `album-${String(i).padStart(3, '0')}`, parentId: folderId });
    for (let start = 0; start < FILES; start += 500) {
      const batch = Array.from({ length: Math.min(500, FILES - start) }, (_, i) => ({
        id: randomBytes(16).toString('hex'),
        ownerId: user.id,
        name: `photo-${String(start + i).padStart(5, '0')}.jpg`,
        size: 1000,
        type: 'image/jpeg',
        k: 2,
        n: 3,
        chunkSize: 1 << 20,
        chunkCount: 1,
        status: 'available' as const,
        committedAt: new Date(),
        folderId
      }));
      await db.db.insert(files).values(batch);
      await db.db.insert(placements).values(batch.flatMap((f) => relayIds.map((relayId, j) => ({ fileId: f.id, relayId, x: j + 1 }))));
    }
  }, 600_000);

  afterAll(async () => {
    if (name === databases.at(-1)?.name) process.stdout.write(`\n${lines.join('\n')}\n`);
    await database?.drop();
  }, 120_000);

  it('measures', async () => {
    const page = (cursor?: string, q?: string) => listFolder(ctx, new URLSearchParams({ parent: folderId, limit: '100', ...(cursor ? { cursor } : {}), ...(q ? { q } : {}) }));
    const whole = await time(() => listFiles(ctx));
    const first = await time(() => page());
    // Walk the whole folder once (and keep the cursor near item 9,000).
    let cursor: string | null | undefined;
    let deep: string | undefined;
    let items = 0;
    let pages = 0;
    const t = performance.now();
    do {
      const p = await page(cursor ?? undefined);
      items += p.folders.length + p.files.length;
      pages++;
      if (pages === 90 && p.nextCursor) deep = p.nextCursor;
      cursor = p.nextCursor;
    } while (cursor);
    const walk = performance.now() - t;
    const deepMs = await time(() => page(deep));
    const search = await time(() => listFolder(ctx, new URLSearchParams({ q: 'photo-0999', limit: '100' })));
    lines.push(
      `${name}: ${FILES} files + 200 folders in one folder, 100 per page: first page ${first.toFixed(1)} ms, page at item ~9,000 ${deepMs.toFixed(1)} ms, ` +
        `search by name ${search.toFixed(1)} ms (medians of ${RUNS}); whole walk ${items} items in ${pages} pages ${walk.toFixed(0)} ms; ` +
        `baseline whole list (GET /api/files) ${whole.toFixed(0)} ms, ratio first page / whole list ${(first / whole).toFixed(3)}`
    );
  }, 1_800_000);
});
