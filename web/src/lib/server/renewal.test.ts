/**
 * The coordinator's renewal job (#15) on PGlite and PostgreSQL with real relay processes: the job renews,
 * flips the manifest epoch only at the end, reads then use the new epoch and rebuild byte-identical, the
 * old epoch stays until the drop job, a relay down mid-renewal leaves the file whole at its epoch and the
 * job retries to completion.
 */
import { randomBytes } from 'node:crypto';
import { RelayClient, createRetrieveStream, fileIdFromHex, shareChunkLength } from '@kofn/shared';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { files, history, jobs } from './db/schema.js';
import { createUser } from './auth.js';
import { ensureSigningKey, type SigningKey } from './signing-keys.js';
import { manifest } from './files.js';
import type { Ctx } from './file-access.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import { claim, runOne } from './jobs.js';
import { DROP_JOB, RENEWAL_GRACE_MS, RENEW_JOB, dealerSet, enqueueRenewal, renewAll, renewNow, renewOnce, renewalHandlers, scheduleRenewals } from './renewal.js';
import { record } from './history.js';
import { listFiles, removeFile } from './files.js';
import { jobHandlers } from './maintenance.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect, retrieve } from './testing/protect.js';

/** Reads a file with the tokens of a manifest fetched earlier (as a browser download in flight does). */
async function readWith(m: Awaited<ReturnType<typeof manifest>>): Promise<Uint8Array> {
  const use = m.placements.slice(0, m.k).map((p) => new RelayClient({ id: p.relayId, name: p.name, url: p.url }, { token: () => p.token }));
  const r = createRetrieveStream({ fileId: fileIdFromHex(m.fileId), epoch: m.epoch, k: m.k });
  const feeding = (async () => {
    const w = r.writable.getWriter();
    for (let i = 0; i <= m.chunkCount; i++) await w.write({ index: i, shares: await Promise.all(use.map((c) => c.get(m.fileId, i, shareChunkLength(Math.max(m.chunkSize, 1340))))) });
    await w.close();
  })();
  const parts: Uint8Array[] = [];
  for await (const part of r.readable) parts.push(part);
  await feeding;
  return Buffer.concat(parts);
}

describeDatabases('renewal job on $name', { once: true }, ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let alice: Ctx;
  let key: SigningKey;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, relays: 10 } };
  // Short relay timeouts: a stopped relay must fail a step in seconds, not minutes.
  const deps = () => ({ db: database.db, key, timeouts: { headersMs: 5_000, putHeadersMs: 5_000, idleMs: 5_000, totalMs: 30_000 } });

  beforeAll(async () => {
    database = await open();
    key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 3);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const user = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'password 123', role: 'user' }, 10);
    alice = { db: database.db, user, license, key, config };
  }, 90_000);

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await database.drop();
  });

  const epochOf = async (id: string) => (await database.db.select().from(files).where(eq(files.id, id)))[0]!;
  const dirsOf = (relay: TestRelay): string[] => {
    const root = join(relay.dataDir, 'chunks');
    return existsSync(root) ? readdirSync(root).flatMap((s) => readdirSync(join(root, s))) : [];
  };

  it('renews through the job: epoch flips at the end, reads use it byte-identical, history records it, the drop job removes epoch 0 after the grace', async () => {
    const data = new Uint8Array(randomBytes(1024 * 1024 + 7));
    const fileId = await protect(alice, 'renew.bin', data, 2);
    const before = relays.map(dirsOf);
    // A download that fetched its manifest (epoch 0 read tokens) before the switch ...
    const early = await manifest(alice, fileId);
    await enqueueRenewal(database.db, fileId);
    const handlers = renewalHandlers(deps());
    expect(await runOne(database.db, 'w1', handlers)).toBe(true);
    const f = await epochOf(fileId);
    expect(f.epoch).toBe(1);
    expect(f.lastRenewalAt).not.toBeNull();
    expect(Buffer.from(await retrieve(alice, fileId)).equals(Buffer.from(data))).toBe(true);

    // ... finishes after it, wholly on epoch 0 (never a mix), byte-identical.
    expect(early.epoch).toBe(0);
    expect(Buffer.from(await readWith(early)).equals(Buffer.from(data))).toBe(true);
    expect((await manifest(alice, fileId)).epoch).toBe(1);

    const [h] = await database.db
      .select()
      .from(history)
      .where(and(eq(history.fileId, fileId), eq(history.operation, 'renew')));
    expect(h?.result).toBe('ok');
    const [drop] = await database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, DROP_JOB), eq(jobs.key, `${fileId}:0`)));
    expect(drop?.status).toBe('pending');
    expect(drop!.runAfter.getTime()).toBeGreaterThan(Date.now() + RENEWAL_GRACE_MS - 120_000);
    // Epoch 0 is still on every relay (a download that began before the switch can finish) ...
    relays.forEach((r, j) => expect(dirsOf(r)).toEqual(expect.arrayContaining(before[j]!.filter((d) => d === fileId))));
    // ... until the drop job runs (its grace simulated by running the handler now).
    await handlers[DROP_JOB]!({ fileId, epoch: 0, dxs: [] }, drop!);
    for (const r of relays) expect(dirsOf(r)).not.toContain(fileId);
    expect(Buffer.from(await retrieve(alice, fileId)).equals(Buffer.from(data))).toBe(true);

    // A second renewal goes 1 -> 2 and still reads byte-identical; a stale job for epoch 0 does nothing.
    expect(await renewOnce(deps(), fileId, 1)).toBe('renewed');
    expect(await renewOnce(deps(), fileId, 0)).toBe('stale');
    expect((await epochOf(fileId)).epoch).toBe(2);
    expect(Buffer.from(await retrieve(alice, fileId)).equals(Buffer.from(data))).toBe(true);
    // The drop job never drops the epoch the manifest serves.
    await handlers[DROP_JOB]!({ fileId, epoch: 2, dxs: [] }, drop!);
    expect(Buffer.from(await retrieve(alice, fileId)).equals(Buffer.from(data))).toBe(true);
  }, 120_000);

  it('a relay down mid-renewal: the job fails and retries, the file stays whole at its epoch; after the relay is back the retry renews', async () => {
    const data = new Uint8Array(randomBytes(200_000));
    const fileId = await protect(alice, 'down.bin', data, 2);
    await relays[2]!.stop(true);
    await enqueueRenewal(database.db, fileId);
    expect(await runOne(database.db, 'w1', renewalHandlers(deps()))).toBe(true);
    const [job] = await database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, RENEW_JOB), eq(jobs.key, `${fileId}:0`)));
    expect(job?.status).toBe('pending');
    expect(job?.lastError).toMatch(/relay-3|not reachable|dropped/);
    expect((await epochOf(fileId)).epoch).toBe(0);
    await relays[2]!.restart();
    expect(Buffer.from(await retrieve(alice, fileId)).equals(Buffer.from(data))).toBe(true);
    // A worker whose job was taken over (its lease ran out and another replica claimed it) never switches.
    const [mine] = await database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, RENEW_JOB), eq(jobs.key, `${fileId}:0`)));
    await database.db
      .update(jobs)
      .set({ runAfter: new Date(0) })
      .where(eq(jobs.id, mine!.id));
    const claimed = (await claim(database.db, 'w1', 60_000))!;
    expect(claimed.id).toBe(mine!.id);
    await database.db.update(jobs).set({ lockedBy: 'w2' }).where(eq(jobs.id, claimed.id));
    await expect(renewOnce(deps(), fileId, 0, claimed)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await epochOf(fileId)).epoch).toBe(0);
    expect(Buffer.from(await retrieve(alice, fileId)).equals(Buffer.from(data))).toBe(true);
    // The retry (run now rather than after its backoff) drops what the failed attempt left and renews.
    expect(await renewOnce(deps(), fileId, 0)).toBe('renewed');
    expect(Buffer.from(await retrieve(alice, fileId)).equals(Buffer.from(data))).toBe(true);
  }, 120_000);

  it('renew now (owner only), renew all, the checking scan with bounded concurrency, the file list states, and removing a renewed file', async () => {
    const data = new Uint8Array(randomBytes(3000));
    const fileId = await protect(alice, 'list.bin', data, 2);
    const bob: Ctx = { ...alice, user: await createUser(database.db, { email: 'bob@x.test', displayName: 'Bob', password: 'password 123', role: 'user' }, 10) };
    // Only the owner may ask; another user learns nothing (NOT_FOUND, as for any file not theirs).
    await expect(renewNow(bob, fileId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // A malformed id is answered like an unknown one (validate.ts fileId).
    await expect(renewNow(alice, 'not-an-id')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await renewNow(alice, fileId)).toEqual({ fileId, epoch: 0, queued: true });
    let mine = (await listFiles(alice)).find((f) => f.id === fileId)!;
    expect(mine).toMatchObject({ epoch: 0, renewal: { state: 'in_progress' } });
    while (await runOne(database.db, 'w1', renewalHandlers(deps())));
    mine = (await listFiles(alice)).find((f) => f.id === fileId)!;
    expect(mine.epoch).toBe(1);
    expect(mine.renewal).toBeNull();
    expect(new Date(mine.nextRenewal).getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);

    // renew all queues every available file; the scan queues only files past `renewal`, at most `concurrency`.
    expect((await renewAll(database.db)).queued).toBeGreaterThanOrEqual(1);
    await database.db.delete(jobs).where(eq(jobs.kind, RENEW_JOB));
    const far = new Date(Date.now() + 400 * 86_400_000);
    expect(await scheduleRenewals(database.db, 30 * 86_400_000, 1, new Date())).toBe(0);
    expect(await scheduleRenewals(database.db, 30 * 86_400_000, 1, far)).toBe(1);
    expect(await scheduleRenewals(database.db, 30 * 86_400_000, 1, far)).toBe(0);
    await database.db.delete(jobs).where(eq(jobs.kind, RENEW_JOB));

    // Removing a renewed file deletes its shares at the renewed epoch too.
    const before = relays.map(dirsOf);
    await removeFile(alice, fileId);
    while (await runOne(database.db, 'w1', jobHandlers(database.db, key)));
    relays.forEach((r, j) => {
      const after = dirsOf(r);
      expect(after).not.toContain(fileId);
      // Epoch 0 (its drop job still waits for the grace) and epoch 1 both went.
      expect(before[j]!.length - after.length).toBe(2);
    });
  }, 120_000);

  it('after a check that failed, the next renewal deals with the next k relays in turn: one bad dealer cannot stop a file being renewed', async () => {
    // The turns themselves: (2,3) and (3,5); every relay sits out within two failures.
    expect([0, 1, 2, 3].map((f) => dealerSet(['a', 'b', 'c'], 2, f))).toEqual([
      ['a', 'b'],
      ['c', 'a'],
      ['b', 'c'],
      ['a', 'b']
    ]);
    expect([0, 1, 2].map((f) => dealerSet([1, 2, 3, 4, 5], 3, f))).toEqual([
      [1, 2, 3],
      [4, 5, 1],
      [2, 3, 4]
    ]);
    expect(dealerSet([1, 2], 2, 5)).toEqual([1, 2]);

    const data = new Uint8Array(randomBytes(100_003));
    const fileId = await protect(alice, 'rotate.bin', data, 2);
    const xs = (await manifest(alice, fileId)).placements.map((p) => p.x).sort((a, b) => a - b);
    const dealt: Array<readonly number[]> = [];
    const watching = () => ({ ...deps(), onDealers: (d: readonly number[]) => dealt.push(d) });
    // A first renewal: the first k holders by x.
    expect(await renewOnce(watching(), fileId, 0)).toBe('renewed');
    /** A failed check of a renewal of `id` to epoch `to`, as renewOnce records it (a dishonest dealer is relay/src/renewal.test.ts's). */
    const failedCheck = (id: string, to: number) =>
      record(database.db, {
        userId: alice.user.id,
        operation: 'renew',
        fileId: id,
        fileName: 'rotate.bin',
        result: 'error',
        detail: `Renewal to epoch ${to} failed its check; epoch ${to - 1} kept. Suspected: x (dealers: y, z).`
      });
    // Its check for epoch 2 failed once; one for another epoch, or of another file, does not count.
    await failedCheck(fileId, 2);
    await failedCheck(fileId, 1);
    const other = await protect(alice, 'rotate-other.bin', data, 2);
    await failedCheck(other, 2);
    await failedCheck(other, 2);
    expect(await renewOnce(watching(), fileId, 1)).toBe('renewed');
    expect(dealt).toEqual([
      [xs[0], xs[1]],
      [xs[2], xs[0]]
    ]);
    expect((await epochOf(fileId)).epoch).toBe(2);
    expect(Buffer.from(await retrieve(alice, fileId)).equals(Buffer.from(data))).toBe(true);
    await removeFile(alice, fileId);
    await removeFile(alice, other);
  }, 120_000);
});
