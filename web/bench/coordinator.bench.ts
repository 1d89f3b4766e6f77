/**
 * Coordinator benchmark on PGlite and (with DATABASE_URL) PostgreSQL: reserve + upload + commit rate with
 * three real relay processes (empty files: the metadata chunk on each relay, verified at commit), reserve
 * rate alone, and file listing latency for a user with 10,000 files. Medians; prints, never asserts speed.
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
import { reserveFile } from '../src/lib/server/reservations.js';
import type { Ctx } from '../src/lib/server/file-access.js';
import { startRelays, type TestRelay } from '../src/lib/server/testing/relays.js';
import { protect } from '../src/lib/server/testing/protect.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const lines: string[] = [];

describe.each(testDatabases())('coordinator on $name', ({ name, open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let ctx: Ctx;

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 3);
    const user = await createUser(database.db, { email: 'bench@x.test', displayName: 'Bench', password: 'bench password', role: 'user' }, 10);
    ctx = { db: database.db, user, license: { ...UNLICENSED, limits: { ...UNLICENSED.limits } }, key, config: loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' }) };
  });

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await database.drop();
    if (name === testDatabases().at(-1)!.name) process.stdout.write(`\n${lines.join('\n')}\n`);
  });

  it('measures', async () => {
    // Reserve + upload + commit, one at a time, in rounds of 50.
    const full: number[] = [];
    for (let round = 0; round < 3; round++) {
      const t = performance.now();
      for (let i = 0; i < 50; i++) await protect(ctx, `full-${round}-${i}`, new Uint8Array(0), 2);
      full.push(50 / ((performance.now() - t) / 1000));
    }
    const reserve: number[] = [];
    for (let round = 0; round < 3; round++) {
      const t = performance.now();
      for (let i = 0; i < 100; i++) await reserveFile(ctx, { name: `r-${round}-${i}`, size: 10, type: '', k: 2 });
      reserve.push(100 / ((performance.now() - t) / 1000));
    }
    // Fill up to 10,000 available files directly, then time the listing.
    const have = 450;
    const relayIds = relays.map((r) => r.id);
    for (let start = have; start < 10_000; start += 500) {
      const batch = Array.from({ length: Math.min(500, 10_000 - start) }, (_, i) => ({
        id: randomBytes(16).toString('hex'),
        ownerId: ctx.user.id,
        name: `bulk-${start + i}.bin`,
        size: 1000,
        type: 'application/octet-stream',
        k: 2,
        n: 3,
        chunkSize: 1 << 20,
        chunkCount: 1,
        status: 'available' as const,
        committedAt: new Date()
      }));
      await database.db.insert(files).values(batch);
      await database.db.insert(placements).values(batch.flatMap((f) => relayIds.map((relayId, j) => ({ fileId: f.id, relayId, x: j + 1 }))));
    }
    const list: number[] = [];
    let count = 0;
    for (let i = 0; i < 7; i++) {
      const t = performance.now();
      count = (await listFiles(ctx)).length;
      list.push(performance.now() - t);
    }
    lines.push(
      `${name}: reserve+upload+commit ${median(full).toFixed(1)} files/s (3 relays, empty files, commit verified with each relay); ` +
        `reserve alone ${median(reserve).toFixed(0)}/s; list of ${count} files ${median(list).toFixed(0)} ms (median of 7)`
    );
  });
});
