/**
 * Replacing a failed relay of an upload in progress (POST /api/files/:id/replace-relay), on PGlite and
 * PostgreSQL with four real relay processes: three hold the file, the fourth is the spare.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { jobs, placements, relays as relaysTable } from './db/schema.js';
import { createUser, type User } from './auth.js';
import { ensureSigningKey } from './signing-keys.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import { commitFile } from './files.js';
import { replaceRelay, reserveFile } from './reservations.js';
import type { Ctx } from './file-access.js';
import { runOne } from './jobs.js';
import { jobHandlers } from './maintenance.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { roots, upload } from './testing/protect.js';

const code = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (err: unknown) => (err as { code?: string }).code
  );

describeDatabases('replace a relay of an upload on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let alice: Ctx;
  let bob: Ctx;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, relays: 10 } };

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 4);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const mk = async (email: string): Promise<User> => createUser(database.db, { email, displayName: email, password: 'password 123', role: 'user' }, 10);
    alice = { db: database.db, user: await mk('alice@x.test'), license, key, config };
    bob = { db: database.db, user: await mk('bob@x.test'), license, key, config };
  }, 90_000);

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await database.drop();
  });

  const three = () => relays.slice(0, 3).map((r) => r.id);
  const chunksOn = (relay: TestRelay, fileId: string): string[] => {
    try {
      return readdirSync(join(relay.dataDir, 'chunks', fileId.slice(0, 2), fileId));
    } catch {
      return [];
    }
  };

  it('moves the placement to the spare keeping x, with a put token for it, and a job cleans the old relay', async () => {
    // A first upload puts chunks on relay 1, which then "stalls": the browser asks for a replacement.
    const first = await upload(alice, 'swap.bin', randomBytes(1024 * 1024 + 9), 2, { relays: three() });
    expect(chunksOn(relays[0]!, first.fileId).length).toBeGreaterThan(0);
    const xBefore = first.placements.find((p) => p.relayId === relays[0]!.id)!.x;
    const r = await replaceRelay(alice, first.fileId, { relayId: relays[0]!.id });
    expect(r.replaced).toBe(relays[0]!.id);
    expect(r.placement).toMatchObject({ relayId: relays[3]!.id, name: relays[3]!.name, url: relays[3]!.url, x: xBefore });
    const rows = await database.db.select().from(placements).where(eq(placements.fileId, first.fileId));
    expect(rows.map((p) => p.relayId).sort()).toEqual([relays[1]!.id, relays[2]!.id, relays[3]!.id].sort());
    // The token works on the spare, for this file.
    const body = first.chunks[0]!.shares[0]!;
    const put = await fetch(`${relays[3]!.url}/v1/files/${first.fileId}/chunks/0`, { method: 'PUT', body, headers: { Authorization: `Bearer ${r.placement.token}` } });
    expect(put.status).toBe(201);
    // The old relay's chunks go by the job.
    const [job] = await database.db
      .select()
      .from(jobs)
      .where(eq(jobs.key, `${first.fileId}:${relays[0]!.id}`));
    expect(job?.kind).toBe('delete-file-on-relay');
    const handlers = jobHandlers(database.db, alice.key);
    while (await runOne(database.db, 'test', handlers));
    expect(chunksOn(relays[0]!, first.fileId)).toEqual([]);
  });

  it('answers RELAYS_OFFLINE naming the relay when no spare is online or all are excluded', async () => {
    const r = await reserveFile(alice, { name: 'nospare.bin', size: 10, type: '', k: 2, relays: three() });
    const err = await replaceRelay(alice, r.fileId, { relayId: relays[0]!.id, exclude: [relays[3]!.id] }).catch((e: unknown) => e as { code: string; message: string });
    expect(err).toMatchObject({ code: 'RELAYS_OFFLINE', message: expect.stringContaining(relays[0]!.name) });
    // An offline spare is no spare either.
    await database.db
      .update(relaysTable)
      .set({ lastHeartbeat: new Date(0) })
      .where(eq(relaysTable.id, relays[3]!.id));
    try {
      expect(await code(replaceRelay(alice, r.fileId, { relayId: relays[0]!.id }))).toBe('RELAYS_OFFLINE');
    } finally {
      await database.db.update(relaysTable).set({ lastHeartbeat: new Date() }).where(eq(relaysTable.id, relays[3]!.id));
    }
  });

  it('refuses a relay that is not one of the file, and bad ids', async () => {
    const r = await reserveFile(alice, { name: 'wrong.bin', size: 10, type: '', k: 2, relays: three() });
    expect(await code(replaceRelay(alice, r.fileId, { relayId: relays[3]!.id }))).toBe('WRONG_VALUE');
    expect(await code(replaceRelay(alice, r.fileId, {}))).toBe('WRONG_VALUE');
    expect(await code(replaceRelay(alice, 'not-a-file-id', { relayId: relays[0]!.id }))).toBe('NOT_FOUND');
  });

  it("refuses another user's upload and a committed file (NOT_FOUND): a placement moves only while its owner uploads", async () => {
    const r = await reserveFile(alice, { name: 'mine.bin', size: 10, type: '', k: 2, relays: three() });
    expect(await code(replaceRelay(bob, r.fileId, { relayId: relays[0]!.id }))).toBe('NOT_FOUND');
    const u = await upload(alice, 'done.bin', randomBytes(100), 2, { relays: three() });
    await commitFile(alice, u.fileId, { roots: await roots(u) });
    expect(await code(replaceRelay(alice, u.fileId, { relayId: relays[0]!.id }))).toBe('NOT_FOUND');
    const rows = await database.db.select().from(placements).where(eq(placements.fileId, u.fileId));
    expect(rows.map((p) => p.relayId).sort()).toEqual(three().sort());
  });

  it('replaces a relay once when asked twice at the same time', async () => {
    const r = await reserveFile(alice, { name: 'race.bin', size: 10, type: '', k: 2, relays: three() });
    const results = await Promise.allSettled([replaceRelay(alice, r.fileId, { relayId: relays[0]!.id }), replaceRelay(alice, r.fileId, { relayId: relays[0]!.id })]);
    expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    const rows = await database.db.select().from(placements).where(eq(placements.fileId, r.fileId));
    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((p) => p.relayId)).size).toBe(3);
  });
});
