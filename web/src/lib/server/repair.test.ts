/**
 * Repair by relays end to end over real relay processes (issue #16): relay 1 loses its whole data folder
 * (stopped, folder deleted, started empty); the check finds every file it held and enqueues repairs; the
 * durable jobs rebuild its shares from k helpers; the shares verify against the commit's digest roots,
 * and an independent decode (`kofn-recover`) of relay 1 with any k-1 others is byte-identical.
 * Also: damaged chunks (bit rot found by scrub) are rebuilt, and every new relay route refuses bad input
 * and wrong tokens with a 4xx code.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { jobs, shareHealth } from './db/schema.js';
import { createUser } from './auth.js';
import { ensureSigningKey, mintCapability } from './signing-keys.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import type { Ctx } from './file-access.js';
import { runOne } from './jobs.js';
import { listHistory } from './history.js';
import { checkFile, fileHealthFor, healthJobHandlers } from './health.js';
import { repairJobHandlers, repairShare } from './repair.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect } from './testing/protect.js';
import { recover } from './testing/recover.js';

describeDatabases('repair by relays on $name', { once: true }, ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let alice: Ctx;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, relays: 10 } };
  const data = new Map<string, Buffer>();
  const ids = new Map<string, string>();

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 4);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const user = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'password 123', role: 'user' }, 10);
    alice = { db: database.db, user, license, key, config };
    const put = async (name: string, size: number, k: number, on: TestRelay[]) => {
      const bytes = randomBytes(size);
      data.set(name, bytes);
      ids.set(
        name,
        await protect(
          alice,
          name,
          bytes,
          k,
          on.map((r) => r.id)
        )
      );
    };
    await put('empty.bin', 0, 2, relays.slice(0, 3));
    await put('two-three.bin', 2 * 1024 * 1024 + 17, 2, relays.slice(0, 3));
    await put('three-four.bin', 1024 * 1024 + 1, 3, relays);
    await put('untouched.bin', 4000, 2, relays.slice(1, 4));
    for (const id of ids.values()) await checkFile(database.db, key, id);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await database.drop();
  });

  async function drainJobs(): Promise<void> {
    const handlers = { ...healthJobHandlers(database.db, alice.key), ...repairJobHandlers(database.db, alice.key) };
    while (await runOne(database.db, 'test', handlers)) {
      /* next */
    }
  }

  it('relay 1 loses its data folder: the check enqueues repairs, the jobs rebuild every share, verified', async () => {
    await relays[0]!.stop(true);
    rmSync(relays[0]!.dataDir, { recursive: true, force: true });
    await relays[0]!.restart();
    for (const id of ids.values()) await checkFile(database.db, alice.key, id);
    const queued = await database.db.select().from(jobs).where(eq(jobs.kind, 'repair-share'));
    expect(queued.map((j) => j.key).sort()).toEqual([...['empty.bin', 'two-three.bin', 'three-four.bin'].map((n) => `${ids.get(n)}:${relays[0]!.id}`)].sort());
    await drainJobs();
    const done = await database.db.select().from(jobs).where(eq(jobs.kind, 'repair-share'));
    expect(done.map((j) => [j.status, j.lastError])).toEqual(done.map(() => ['done', null]));
    for (const [name, id] of ids) {
      const h = await fileHealthFor(database.db, { id, k: 0, n: 0 });
      expect(
        h?.shares.every((s) => s.state === 'ok'),
        name
      ).toBe(true);
      // A fresh check (not the job's own word) agrees.
      expect((await checkFile(database.db, alice.key, id))?.state, name).toBe('healthy');
    }
    // The owner's history says what was rebuilt, and by whom.
    const repaired = (await listHistory(database.db, alice.user.id)).filter((h) => h.operation === 'repair');
    expect(repaired.map((h) => h.fileName).sort()).toEqual(['empty.bin', 'three-four.bin', 'two-three.bin']);
    expect(repaired.every((h) => h.result === 'ok' && h.detail.startsWith('share on test-relay-1 rebuilt at epoch 0 by '))).toBe(true);
  }, 120_000);

  it('an independent decode of relay 1 with any k-1 others is byte-identical', async () => {
    const d = relays.map((r) => r.dataDir);
    for (const pair of [
      [d[0]!, d[1]!],
      [d[0]!, d[2]!]
    ]) {
      const got = recover(pair);
      expect(got.get('empty.bin')).toEqual(data.get('empty.bin'));
      expect(got.get('two-three.bin')?.equals(data.get('two-three.bin')!)).toBe(true);
    }
    const three = recover([d[0]!, d[2]!, d[3]!]);
    expect(three.get('three-four.bin')?.equals(data.get('three-four.bin')!)).toBe(true);
  }, 60_000);

  it('a damaged chunk (bit rot) is rebuilt: the receiver drops its copy first', async () => {
    const id = ids.get('two-three.bin')!;
    const dir = join(relays[1]!.dataDir, 'chunks', id.slice(0, 2), id);
    const name = readdirSync(dir).find((n) => n.startsWith('2.'))!;
    const bytes = readFileSync(join(dir, name));
    bytes[60]! ^= 0x80;
    writeFileSync(join(dir, name), bytes);
    // What a scrub report records (health.test.ts covers the signed route).
    await database.db
      .update(shareHealth)
      .set({ scrubDamage: [2] })
      .where(eq(shareHealth.relayId, relays[1]!.id));
    expect(await repairShare(database.db, alice.key, id, relays[1]!.id)).toBe('repaired');
    const got = recover([relays[1]!.dataDir, relays[2]!.dataDir]);
    expect(got.get('two-three.bin')?.equals(data.get('two-three.bin')!)).toBe(true);
  }, 60_000);

  it('refuses to repair with fewer than k good helpers, and does nothing for a good share', async () => {
    const id = ids.get('three-four.bin')!;
    expect(await repairShare(database.db, alice.key, id, relays[0]!.id)).toBe('nothing');
    await database.db.update(shareHealth).set({ state: 'missing' }).where(eq(shareHealth.fileId, id));
    await expect(repairShare(database.db, alice.key, id, relays[0]!.id)).rejects.toMatchObject({ code: 'NOT_ENOUGH_SHARES' });
    await checkFile(database.db, alice.key, id);
  });

  it('relay repair routes: wrong tokens and bad input are 4xx with a code, a term is served once', async () => {
    const fid = ids.get('untouched.bin')!;
    const helper = relays[1]!;
    const call = async (method: string, path: string, op: 'repair_start' | 'repair_seed' | 'repair_send' | 'repair_collect' | 'get' | null, body?: unknown, sender = 0) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (op) headers.authorization = `Bearer ${await mintCapability(alice.key, { relayId: helper.id, userId: 'coordinator', fid, op, chunks: [sender, sender], ttl: 60 })}`;
      const res = await fetch(`${helper.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
      const json = (await res.json().catch(() => ({}))) as { error?: { code: string } };
      return [res.status, json.error?.code] as const;
    };
    const start = { rid: '00'.repeat(16), xs: [1, 2], self: 1, xNew: 3, epoch: 0, chunkCount: 1, peers: [] };
    expect(await call('POST', `/v1/repair/${fid}/start`, null, start)).toEqual([401, 'TOKEN_MISSING']);
    // A token for another op (a read token, or a receiver's send token) does not start a repair.
    expect(await call('POST', `/v1/repair/${fid}/start`, 'get', start)).toEqual([403, 'TOKEN_OUT_OF_SCOPE']);
    expect(await call('POST', `/v1/repair/${fid}/start`, 'repair_send', start)).toEqual([403, 'TOKEN_OUT_OF_SCOPE']);
    expect((await call('POST', `/v1/repair/${fid}/start`, 'repair_start', { ...start, xNew: 2 }))[1]).toBe('DUPLICATE_X');
    expect(await call('POST', `/v1/repair/${fid}/start`, 'repair_start', { ...start, xs: [1] })).toEqual([400, 'BAD_REQUEST']);
    expect(await call('POST', `/v1/repair/${fid}/start`, 'repair_start', '{not json')).toEqual([400, 'BAD_REQUEST']);
    expect(await call('POST', `/v1/repair/${fid}/start`, 'repair_start', { ...start, peers: [{ url: 'file:///etc', token: 'a.b.c' }] })).toEqual([400, 'BAD_REQUEST']);
    expect(await call('POST', `/v1/repair/${fid}/seed`, 'repair_seed', { rid: start.rid, from: 0, seed: 'short' })).toEqual([400, 'BAD_REQUEST']);
    expect(await call('POST', `/v1/repair/${fid}/collect`, 'repair_collect', { rid: start.rid, x: 0, k: 2, epoch: 0, chunkCount: 0, helpers: [] })).toEqual([400, 'BAD_REQUEST']);
    expect(await call('GET', `/v1/repair/${fid}/chunks/0`, 'repair_send')).toEqual([404, 'NOT_FOUND']);
    expect(await call('GET', `/v1/repair/${fid}/chunks/x`, 'repair_send')).toEqual([400, 'BAD_REQUEST']);
    expect(await call('POST', `/v1/repair/nothex/start`, 'repair_start', start)).toEqual([400, 'BAD_REQUEST']);

    // A session whose seeds arrived: the term for a chunk is served once; asking again is refused.
    const seed = randomBytes(32).toString('base64url');
    // A seed token names its sender: helper 0's token cannot send as helper 1 (who would then share a pad
    // with the attacker, and the attacker with the receiver could strip it from helper 1's term).
    expect(await call('POST', `/v1/repair/${fid}/seed`, 'repair_seed', { rid: start.rid, from: 1, seed }, 0)).toEqual([403, 'TOKEN_OUT_OF_SCOPE']);
    expect(await call('POST', `/v1/repair/${fid}/seed`, 'repair_seed', { rid: start.rid, from: 0, seed })).toEqual([200, undefined]);
    expect(await call('POST', `/v1/repair/${fid}/seed`, 'repair_seed', { rid: start.rid, from: 0, seed })).toEqual([409, 'CONFLICT']);
    const xs = [await helperX(fid, relays[2]!.id), await helperX(fid, helper.id)];
    const fresh = [1, 2, 3, 4, 5].find((x) => !xs.includes(x))!;
    expect(await call('POST', `/v1/repair/${fid}/start`, 'repair_start', { ...start, xs, xNew: fresh })).toEqual([200, undefined]);
    const first = await fetch(`${helper.url}/v1/repair/${fid}/chunks/1`, {
      headers: { authorization: `Bearer ${await mintCapability(alice.key, { relayId: helper.id, userId: 'coordinator', fid, op: 'repair_send', chunks: [0, 0], ttl: 60 })}` }
    });
    expect(first.status).toBe(200);
    expect(await call('GET', `/v1/repair/${fid}/chunks/1`, 'repair_send')).toEqual([409, 'CONFLICT']);
    expect(await call('GET', `/v1/repair/${fid}/chunks/2`, 'repair_send')).toEqual([400, 'BAD_REQUEST']);
  });

  async function helperX(fileId: string, relayId: string): Promise<number> {
    const { placements } = await import('./db/schema.js');
    const rows = await database.db.select().from(placements).where(eq(placements.fileId, fileId));
    return rows.find((r) => r.relayId === relayId)!.x;
  }
});
