/**
 * Reservations at their edges (issue #24: Stryker on the reservation part of files.ts, to follow it when
 * it moves to a module of its own): the licence's file size and storage quota at exactly their values,
 * the threshold against the number of servers, the servers chosen (unknown, repeated, offline or not
 * enrolled), file names, and what a reservation answers. Reserving reads relay rows and signs tokens; it
 * does not contact relays, so the relays here are registered rows (testing/relays.ts registerTestRelay).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { files, relays } from './db/schema.js';
import { createUser } from './auth.js';
import { loadConfig } from './config.js';
import { ensureSigningKey } from './signing-keys.js';
import { UNLICENSED, type License } from './license.js';
import { reserveFile } from './reservations.js';
import type { Ctx } from './file-access.js';
import { registerTestRelay } from './testing/relays.js';

const refusal = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (err: unknown) => `${(err as { code?: string }).code}: ${(err as Error).message}`
  );

describeDatabases('reservations at their edges on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let ctx: Ctx;
  const ids: string[] = [];
  const license: License = { ...UNLICENSED, limits: { relays: 10, users: 10, protectedBytes: 10_000, maxFileSize: 4_000 } };

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    for (let i = 1; i <= 3; i++) {
      const id = randomUUID();
      ids.push(id);
      await registerTestRelay(database.db, { id, name: `r${i}`, url: `http://127.0.0.1:${9000 + i}` });
    }
    const user = await createUser(database.db, { email: 'res@x.test', displayName: 'R', password: 'password 123', role: 'user' }, 10);
    ctx = { db: database.db, user, license, key, config: loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' }) };
  });
  afterAll(async () => {
    await database.drop();
  });

  const reserve = (over: Record<string, unknown>) => reserveFile(ctx, { name: `f-${randomUUID()}.txt`, size: 10, type: 'text/plain', k: 2, ...over });

  it('takes a file of exactly the licence\u2019s largest size, an empty one, and names the limit past it', async () => {
    expect((await reserve({ size: 4_000 })).chunkCount).toBe(1);
    expect((await reserve({ size: 0 })).chunkCount).toBe(0);
    expect(await refusal(reserve({ size: 4_001 }))).toBe('FILE_TOO_BIG: File too big, empty or wrong field. The licence allows files up to 4000 bytes.');
    for (const size of [-1, 1.5, '10', undefined]) expect(await refusal(reserve({ size }))).toBe('FILE_TOO_BIG: File too big, empty or wrong field.');
  });

  it('checks the threshold against 2 and the number of servers, in words of its own', async () => {
    expect(await refusal(reserve({ k: 2.5 }))).toBe('WRONG_VALUE: Wrong value supplied for field "k". Valid values are integers 2..255.');
    expect(await refusal(reserve({ k: '2' }))).toBe('WRONG_VALUE: Wrong value supplied for field "k". Valid values are integers 2..255.');
    expect(await refusal(reserve({ k: 1 }))).toBe('THRESHOLD_TOO_LOW: The threshold must be at least 2.');
    expect((await reserve({ k: 3 })).n).toBe(3);
    expect(await refusal(reserve({ k: 4 }))).toBe('THRESHOLD_TOO_HIGH: The threshold is greater than the number of servers.');
    expect(await refusal(reserve({ k: 3, relays: [ids[0], ids[1]] }))).toBe('THRESHOLD_TOO_HIGH: The threshold is greater than the number of servers.');
  });

  it('takes the servers asked for once each, and refuses unknown ones or a malformed list', async () => {
    const r = await reserve({ relays: [ids[1], ids[0], ids[1]] });
    expect(r.placements.map((p) => p.relayId)).toEqual([ids[1], ids[0]]);
    expect(r.n).toBe(2);
    const wrong = 'WRONG_VALUE: Wrong value supplied for field "relays". Valid values are ids of registered storage servers.';
    for (const list of [[], 'r1', [ids[0], 7]]) expect(await refusal(reserve({ relays: list }))).toBe(wrong);
    // A well-formed id that names no relay in service (unknown, or draining, lost, retired: relay-lifecycle.ts).
    expect(await refusal(reserve({ relays: [ids[0], randomUUID()] }))).toBe('WRONG_VALUE: Wrong value supplied for field "relays". Valid values are ids of storage servers in service.');
  });

  it('names the chosen servers that are offline or not enrolled, and counts those reachable', async () => {
    await database.db
      .update(relays)
      .set({ lastHeartbeat: new Date(Date.now() - 7_200_000) })
      .where(eq(relays.id, ids[2]!));
    expect(await refusal(reserve({ relays: [ids[0], ids[2]] }))).toBe(
      'RELAYS_OFFLINE: Some storage servers necessary for the operation are not connected: r3. All 2 chosen servers are needed and 1 is reachable.'
    );
    // Without a list, only the servers online and enrolled take shares.
    expect((await reserve({})).placements.map((p) => p.relayId).sort()).toEqual([ids[0], ids[1]].sort());
    await database.db.update(relays).set({ lastHeartbeat: new Date(), publicKey: null }).where(eq(relays.id, ids[2]!));
    expect(await refusal(reserve({ relays: [ids[2]] }))).toBe(
      'RELAYS_OFFLINE: Some storage servers necessary for the operation are not connected: r3. The 1 chosen server is needed and none is reachable.'
    );
    expect((await reserve({})).n).toBe(2);
  });

  it('answers distinct non-zero x per server, its chunking, epoch 0 and a put token each; the type defaults', async () => {
    const name = `answer-${randomUUID()}.bin`;
    const r = await reserveFile(ctx, { name, size: 10, k: 2 });
    expect(r).toMatchObject({ k: 2, n: 2, epoch: 0, chunkCount: 1 });
    const xs = r.placements.map((p) => p.x);
    expect(new Set(xs).size).toBe(2);
    for (const p of r.placements) {
      expect(p.x).toBeGreaterThanOrEqual(1);
      expect(p.x).toBeLessThanOrEqual(255);
      expect(JSON.parse(Buffer.from(p.token.split('.')[1]!, 'base64url').toString())).toMatchObject({ fid: r.fileId, op: 'put', aud: p.relayId });
    }
    const [row] = await database.db.select().from(files).where(eq(files.id, r.fileId));
    expect(row).toMatchObject({ name, status: 'reserved', type: 'application/octet-stream', size: 10, k: 2, n: 2 });
    expect((await reserveFile(ctx, { name: `${name}2`, size: 1, k: 2, type: '' })).fileId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('refuses a name the user already has, and takes it again once that file is deleted', async () => {
    const name = `same-${randomUUID()}.txt`;
    const first = await reserve({ name });
    expect(await refusal(reserve({ name }))).toBe('FILENAME_IN_USE: Filename is already in use.');
    await database.db.update(files).set({ status: 'deleted' }).where(eq(files.id, first.fileId));
    expect((await reserve({ name })).fileId).not.toBe(first.fileId);
  });

  it('reserves up to exactly the storage quota, counting reserved and available files, and refuses a byte more', async () => {
    // Forget earlier reservations, so the quota holds only what this test reserves.
    await database.db.update(files).set({ status: 'deleted' });
    await reserve({ size: 4_000 });
    const second = await reserve({ size: 4_000 });
    await database.db.update(files).set({ status: 'available' }).where(eq(files.id, second.fileId));
    expect(await refusal(reserve({ size: 2_001 }))).toBe('STORAGE_FULL: Storage limit reached: the licence allows no more protected bytes.');
    await reserve({ size: 2_000 });
    expect(await refusal(reserve({ size: 1 }))).toBe('STORAGE_FULL: Storage limit reached: the licence allows no more protected bytes.');
  });
});
