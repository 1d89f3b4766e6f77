/**
 * Repair of renewed files (#15 with #16): a renewal's switch records each relay's digest root for the new
 * epoch, so the check compares a renewed share by digest (not only by completeness) and repair rebuilds
 * it at the current epoch from helpers' current-epoch shares, verified against that root. Real relay
 * processes on PGlite and PostgreSQL; the last word is an independent decode (`kofn-recover`) of the
 * repaired relay's folder with any k-1 others.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { epochStorageId } from '@kofn/shared/recover';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { files, jobs, placements, shareHealth } from './db/schema.js';
import { createUser } from './auth.js';
import { ensureSigningKey } from './signing-keys.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import type { Ctx } from './file-access.js';
import { runOne } from './jobs.js';
import { listHistory } from './history.js';
import { checkFile, healthJobHandlers } from './health.js';
import { repairJobHandlers, repairShare } from './repair.js';
import { DROP_JOB, renewOnce, renewalHandlers } from './renewal.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect, retrieve } from './testing/protect.js';
import { recover } from './testing/recover.js';

/** The folder a disk relay keeps one epoch of a file in (relay/src/storage/disk.ts, epoch-ids.ts). */
const epochDir = (relay: TestRelay, fileId: string, epoch: number) => {
  const id = epochStorageId(fileId, epoch);
  return join(relay.dataDir, 'chunks', id.slice(0, 2), id);
};

describeDatabases('repair of renewed files on $name', { once: true }, ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let alice: Ctx;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, relays: 10 } };
  const data = new Map<string, Buffer>();
  const ids = new Map<string, string>();
  const deps = () => ({ db: database.db, key: alice.key, timeouts: { headersMs: 5_000, putHeadersMs: 5_000, idleMs: 5_000, totalMs: 30_000 } });

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 4);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const user = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'password 123', role: 'user' }, 10);
    alice = { db: database.db, user, license, key, config };
    const put = async (name: string, size: number, k: number, on: TestRelay[], renewals: number) => {
      const bytes = randomBytes(size);
      data.set(name, bytes);
      const id = await protect(
        alice,
        name,
        bytes,
        k,
        on.map((r) => r.id)
      );
      ids.set(name, id);
      for (let e = 0; e < renewals; e++) {
        expect(await renewOnce(deps(), id, e)).toBe('renewed');
        // The old epoch goes (its grace simulated): what is left on disk is the renewed epoch alone.
        await renewalHandlers(deps())[DROP_JOB]!({ fileId: id, epoch: e, dxs: [] }, undefined as never);
      }
    };
    await put('empty.bin', 0, 2, relays.slice(0, 3), 1);
    await put('two-three.bin', 1024 * 1024 + 7, 2, relays.slice(0, 3), 2);
    await put('three-four.bin', 300_001, 3, relays, 1);
  }, 180_000);

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

  it('the switch records every relay\u2019s root for the new epoch, and the check compares it', async () => {
    for (const [name, id] of ids) {
      const [f] = await database.db.select().from(files).where(eq(files.id, id));
      const ps = await database.db.select().from(placements).where(eq(placements.fileId, id));
      expect(
        ps.every((p) => p.rootEpoch === f!.epoch && /^[0-9a-f]{64}$/.test(p.digestRoot ?? '')),
        name
      ).toBe(true);
      // Renewal changes every stored body, so every root changed with it: distinct per relay and epoch.
      expect(new Set(ps.map((p) => p.digestRoot)).size, name).toBe(ps.length);
      const view = await checkFile(database.db, alice.key, id);
      expect(view?.state, name).toBe('healthy');
      // Compared by digest: no "completeness only" note any more.
      expect(
        view?.shares.every((s) => s.detail === ''),
        name
      ).toBe(true);
    }
  });

  it('a stale chunk in a renewed share (the previous epoch\u2019s bytes at the same index) is found damaged by digest', async () => {
    const id = ids.get('two-three.bin')!;
    const relay = relays[1]!;
    // Epoch 1 was dropped; rebuild a plausible stale chunk: epoch 2's chunk 0 replaced by another valid
    // chunk of this relay (chunk 1 of epoch 2, renamed to index 0 with its own digest).
    const dir = epochDir(relay, id, 2);
    const names = readdirSync(dir);
    const zero = names.find((n) => n.startsWith('0.'))!;
    const one = names.find((n) => n.startsWith('1.'))!;
    const saved = readFileSync(join(dir, zero));
    unlinkSync(join(dir, zero));
    copyFileSync(join(dir, one), join(dir, `0.${one.slice(2)}`));
    const view = await checkFile(database.db, alice.key, id);
    expect(view?.shares.find((s) => s.relayId === relay.id)).toMatchObject({ state: 'damaged' });
    expect(view?.state).toBe('at_risk');
    // Put back, the check finds it good again (so the digest, not the mere presence, decided).
    unlinkSync(join(dir, `0.${one.slice(2)}`));
    writeFileSync(join(dir, zero), saved);
    expect((await checkFile(database.db, alice.key, id))?.state).toBe('healthy');
    await database.db.delete(jobs).where(eq(jobs.kind, 'repair-share'));
  });

  it('relay 1 loses its data folder: repairs rebuild every renewed share at the current epoch, verified by digest', async () => {
    await relays[0]!.stop(true);
    rmSync(relays[0]!.dataDir, { recursive: true, force: true });
    await relays[0]!.restart();
    for (const id of ids.values()) expect((await checkFile(database.db, alice.key, id))?.shares.find((s) => s.relayId === relays[0]!.id)?.state).toBe('missing');
    const queued = await database.db.select().from(jobs).where(eq(jobs.kind, 'repair-share'));
    expect(queued.map((j) => j.key).sort()).toEqual([...ids.values()].map((id) => `${id}:${relays[0]!.id}`).sort());
    await drainJobs();
    const done = await database.db.select().from(jobs).where(eq(jobs.kind, 'repair-share'));
    expect(done.map((j) => [j.status, j.lastError])).toEqual(done.map(() => ['done', null]));
    for (const [name, id] of ids) {
      const [f] = await database.db.select().from(files).where(eq(files.id, id));
      // Written at the current epoch's storage id (and nowhere else).
      expect(readdirSync(epochDir(relays[0]!, id, f!.epoch)).length, name).toBe(f!.chunkCount + 1);
      expect((await checkFile(database.db, alice.key, id))?.state, name).toBe('healthy');
      expect(Buffer.from(await retrieve(alice, id)).equals(data.get(name)!), name).toBe(true);
    }
    const repaired = (await listHistory(database.db, alice.user.id)).filter((h) => h.operation === 'repair');
    expect(repaired.map((h) => h.detail).sort()).toEqual(
      [
        'share on test-relay-1 rebuilt at epoch 1 by test-relay-2, test-relay-3',
        'share on test-relay-1 rebuilt at epoch 1 by test-relay-2, test-relay-3, test-relay-4',
        'share on test-relay-1 rebuilt at epoch 2 by test-relay-2, test-relay-3'
      ].sort()
    );
  }, 120_000);

  it('an independent decode of the repaired relay with any k-1 others is byte-identical', async () => {
    const d = relays.map((r) => r.dataDir);
    for (const pair of [
      [d[0]!, d[1]!],
      [d[0]!, d[2]!]
    ]) {
      const got = recover(pair);
      expect(got.get('empty.bin')).toEqual(data.get('empty.bin'));
      expect(got.get('two-three.bin')?.equals(data.get('two-three.bin')!)).toBe(true);
    }
    for (const triple of [
      [d[0]!, d[1]!, d[2]!],
      [d[0]!, d[2]!, d[3]!],
      [d[0]!, d[1]!, d[3]!]
    ]) {
      expect(recover(triple).get('three-four.bin')?.equals(data.get('three-four.bin')!)).toBe(true);
    }
  }, 60_000);

  it('bit rot in a renewed chunk (scrub damage) is rebuilt at the epoch; a file renewed without recorded roots is not repaired', async () => {
    const id = ids.get('two-three.bin')!;
    const dir = epochDir(relays[1]!, id, 2);
    const name = readdirSync(dir).find((n) => n.startsWith('1.'))!;
    const bytes = readFileSync(join(dir, name));
    bytes[60]! ^= 0x80;
    writeFileSync(join(dir, name), bytes);
    await database.db
      .update(shareHealth)
      .set({ scrubDamage: [1] })
      .where(and(eq(shareHealth.relayId, relays[1]!.id), eq(shareHealth.fileId, id)));
    expect(await repairShare(database.db, alice.key, id, relays[1]!.id)).toBe('repaired');
    expect(recover([relays[1]!.dataDir, relays[2]!.dataDir]).get('two-three.bin')?.equals(data.get('two-three.bin')!)).toBe(true);

    // A file renewed before roots were kept per epoch (root of epoch 0 while the file is at 1): the check
    // counts its shares by completeness, and repair refuses rather than store a share it cannot verify.
    const other = ids.get('empty.bin')!;
    await database.db.update(placements).set({ rootEpoch: 0 }).where(eq(placements.fileId, other));
    const view = await checkFile(database.db, alice.key, other);
    expect(view?.shares.every((s) => s.state === 'ok' && s.detail.includes('no digest recorded'))).toBe(true);
    await database.db
      .update(shareHealth)
      .set({ state: 'missing' })
      .where(and(eq(shareHealth.fileId, other), eq(shareHealth.relayId, relays[0]!.id)));
    await expect(repairShare(database.db, alice.key, other, relays[0]!.id)).rejects.toMatchObject({ code: 'CONFLICT' });
  }, 60_000);
});
