/**
 * The job "replace relay R by relay S with a fresh x during the next renewal" (renewal-replace.ts;
 * shared/docs/renewal.md, "Replacing a relay at a fresh x") on PGlite and PostgreSQL with real relay
 * processes: the file moves to epoch e+1 on the new set, S at an x no share of the file ever had; every k of
 * the new set rebuild byte-identical (the manifest, relay GETs and kofn-recover of relay folders); R's leftover
 * epoch-e share never combines with epoch e+1 shares; the check finds the file healthy by recorded roots;
 * R's copy goes with the release job; refusals (n = k, a target already holding a share, bad relays).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { RelayClient, createRetrieveStream, fileIdFromHex, shareChunkLength } from '@kofn/shared';
import { codeOf } from '@kofn/shared/testing';
import { epochStorageId, recoverDirectories } from '@kofn/shared/recover';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { files, history, jobs, placements } from './db/schema.js';
import { createUser } from './auth.js';
import { ensureSigningKey, mintCapability, type SigningKey } from './signing-keys.js';
import type { Ctx } from './file-access.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import { runOne } from './jobs.js';
import { checkFile } from './health.js';
import { RELEASE_JOB, lifecycleHandlers } from './relay-lifecycle.js';
import { REPLACE_JOB, enqueueReplacement, replaceHandlers } from './renewal-replace.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect, retrieve } from './testing/protect.js';

function subsets<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)];
}

describeDatabases('replacing a relay at a fresh x inside a renewal on $name', { once: true }, ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let alice: Ctx;
  let key: SigningKey;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, relays: 10 } };
  const timeouts = { headersMs: 5_000, putHeadersMs: 5_000, idleMs: 5_000, totalMs: 30_000 };
  const deps = () => ({ db: database.db, key, timeouts });

  beforeAll(async () => {
    database = await open();
    key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 5);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const user = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'password 123', role: 'user' }, 10);
    alice = { db: database.db, user, license, key, config };
  }, 90_000);

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await database.drop();
  });

  const relayOf = (id: string): TestRelay => relays.find((r) => r.id === id)!;
  const fileRow = async (id: string) => (await database.db.select().from(files).where(eq(files.id, id)))[0]!;
  const placed = (id: string) => database.db.select().from(placements).where(eq(placements.fileId, id));
  /** Reads share chunk `index` of a file at `epoch` from a relay with a coordinator-minted token. */
  const readAt = async (relay: TestRelay, fileId: string, epoch: number, index: number, chunkSize: number): Promise<Uint8Array> => {
    const token = () => mintCapability(key, { relayId: relay.id, userId: 'coordinator', fid: fileId, op: 'get', chunks: [0, 100_000], ttl: 60, ...(epoch > 0 ? { ep: epoch } : {}) });
    return new RelayClient({ id: relay.id, name: relay.name, url: relay.url }, { token, timeouts }).get(fileId, index, shareChunkLength(Math.max(chunkSize, 1340)));
  };
  /** Rebuilds a file from per-index share sets, at `epoch` (the retrieve stream refuses other epochs by header). */
  const rebuild = async (fileId: string, epoch: number, k: number, chunkCount: number, shares: (i: number) => Promise<Uint8Array[]>): Promise<Buffer> => {
    const r = createRetrieveStream({ fileId: fileIdFromHex(fileId), epoch, k });
    const feeding = (async () => {
      const w = r.writable.getWriter();
      for (let i = 0; i <= chunkCount; i++) await w.write({ index: i, shares: await shares(i) });
      await w.close();
    })();
    feeding.catch(() => undefined);
    const parts: Uint8Array[] = [];
    for await (const part of r.readable) parts.push(part);
    await feeding;
    return Buffer.concat(parts);
  };

  it.each([
    [2, 3, 1024 * 1024 + 7],
    [3, 4, 70_000]
  ])(
    '(%i,%i), %i bytes: R is replaced by S at a fresh x at epoch e+1; any k of the new set rebuild; R\u2019s leftover never combines; the release removes it',
    async (k, n, size) => {
      const data = new Uint8Array(randomBytes(size));
      const holders = relays.slice(0, n).map((r) => r.id);
      const fileId = await protect(alice, `fresh-${k}-${n}.bin`, data, k, holders);
      const before = await placed(fileId);
      const leaving = relays[0]!;
      const spare = relays[4]!;
      const xOld = before.map((p) => p.x);
      expect(await enqueueReplacement(database.db, leaving.id, spare.id)).toEqual({ queued: 1, unsupported: 0 });
      const handlers = { ...replaceHandlers(deps()), ...lifecycleHandlers({ db: database.db, key, offlineAfterMs: 3_600_000, timeouts }) };
      expect(await runOne(database.db, 'w1', handlers)).toBe(true);
      const [job] = await database.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.kind, REPLACE_JOB), eq(jobs.key, `${fileId}:${leaving.id}`)));
      expect(job?.status, job?.lastError ?? '').toBe('done');

      const f = await fileRow(fileId);
      expect(f.epoch).toBe(1);
      const after = (await placed(fileId)).sort((a, b) => a.x - b.x);
      expect(after.map((p) => p.relayId).sort()).toEqual([...holders.slice(1), spare.id].sort());
      const fresh = after.find((p) => p.relayId === spare.id)!;
      // A fresh x: none the file's shares ever had (R's included).
      expect(xOld).not.toContain(fresh.x);
      expect(after.every((p) => p.rootEpoch === 1 && p.digestRoot !== null)).toBe(true);
      // Read through the manifest (now naming the new set) ...
      expect(Buffer.from(await retrieve(alice, fileId)).equals(Buffer.from(data))).toBe(true);
      // ... and every k of the new set at epoch 1.
      for (const set of subsets(after, k)) {
        const got = await rebuild(fileId, 1, k, f.chunkCount, (i) => Promise.all(set.map((p) => readAt(relayOf(p.relayId), fileId, 1, i, f.chunkSize))));
        expect(got.equals(Buffer.from(data))).toBe(true);
      }
      // The check finds every share of the new set good by the roots the switch recorded.
      const health = await checkFile(database.db, key, fileId, timeouts);
      expect(health?.state).toBe('healthy');
      // The history says what moved.
      const [h] = await database.db
        .select()
        .from(history)
        .where(and(eq(history.fileId, fileId), eq(history.operation, 'renew')));
      expect(h?.detail).toContain(`share moved from ${leaving.name} to ${spare.name} at a fresh x`);

      // R's leftover epoch-0 share with k-1 epoch-1 shares: mixed epochs by header; relabelled as epoch 1,
      // the records do not authenticate. The same for S's new share with k-1 epoch-0 shares (R's among them).
      const others = after.filter((p) => p.relayId !== spare.id).slice(0, k - 1);
      const mixed = (relabel: boolean) =>
        codeOf(
          rebuild(fileId, 1, k, f.chunkCount, async (i) => {
            const old = await readAt(leaving, fileId, 0, i, f.chunkSize);
            if (relabel) old.set([0, 0, 0, 1], 28);
            return [old, ...(await Promise.all(others.map((p) => readAt(relayOf(p.relayId), fileId, 1, i, f.chunkSize))))];
          })
        );
      expect(await mixed(false)).toBe('MIXED_EPOCH');
      expect(await mixed(true)).toBe('AUTH_FAILED');
      const oldSet = [leaving, ...relays.slice(1, k - 1)];
      const mixedNew = await codeOf(
        rebuild(fileId, 0, k, f.chunkCount, async (i) => {
          const s = await readAt(spare, fileId, 1, i, f.chunkSize);
          s.set([0, 0, 0, 0], 28);
          return [s, ...(await Promise.all(oldSet.map((r) => readAt(r, fileId, 0, i, f.chunkSize))))];
        })
      );
      expect(mixedNew).toBe('AUTH_FAILED');

      // kofn-recover of the new set's folders (any k) rebuilds the file at epoch 1, byte-identical.
      for (const set of subsets(after, k)) {
        const out = mkdtempSync(join(tmpdir(), 'kofn-fresh-recovered-'));
        try {
          const report = await recoverDirectories(
            set.map((p) => relayOf(p.relayId).dataDir),
            out
          );
          const got = report.files.find((r) => r.fileId === fileId);
          expect(got?.error).toBeUndefined();
          expect(got?.epoch).toBe(1);
          expect(readFileSync(got!.path!).equals(Buffer.from(data))).toBe(true);
        } finally {
          rmSync(out, { recursive: true, force: true });
        }
      }

      // R's copy is released after the grace (simulated by running the queued job now): it holds nothing.
      const [release] = await database.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.kind, RELEASE_JOB), eq(jobs.key, `${fileId}:${leaving.id}`)));
      expect(release?.status).toBe('pending');
      expect(release!.runAfter.getTime()).toBeGreaterThan(Date.now() + 10 * 60_000);
      expect(hasAnyEpoch(leaving, fileId)).toBe(true);
      await handlers[RELEASE_JOB]!(release!.payload as Record<string, unknown>, release!);
      expect(hasAnyEpoch(leaving, fileId)).toBe(false);
      expect(Buffer.from(await retrieve(alice, fileId)).equals(Buffer.from(data))).toBe(true);
      // Running the job again finds nothing to do (R holds no placement): no second renewal.
      await handlers[REPLACE_JOB]!({ fileId, from: leaving.id, to: spare.id }, job!);
      expect((await fileRow(fileId)).epoch).toBe(1);
    },
    240_000
  );

  it('refuses: n = k (no k shares besides the leaving one), a target already holding a share, unknown or equal relays', async () => {
    const fileId = await protect(alice, 'nk.bin', new Uint8Array(randomBytes(5000)), 2, [relays[0]!.id, relays[1]!.id]);
    expect(await enqueueReplacement(database.db, relays[0]!.id, relays[4]!.id)).toMatchObject({ queued: expect.any(Number) as number });
    const handlers = replaceHandlers(deps());
    const [job] = await database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, REPLACE_JOB), eq(jobs.key, `${fileId}:${relays[0]!.id}`)));
    expect(await codeOf(handlers[REPLACE_JOB]!(job!.payload as Record<string, unknown>, job!))).toBe('NOT_ENOUGH_SHARES');
    expect((await fileRow(fileId)).epoch).toBe(0);
    // Relay 1 holds a share of the file already: it is no target for it (it would hold two points).
    const other = await protect(alice, 'both.bin', new Uint8Array(randomBytes(5000)), 2, [relays[0]!.id, relays[1]!.id, relays[2]!.id]);
    await enqueueReplacement(database.db, relays[0]!.id, relays[1]!.id);
    const none = await database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, REPLACE_JOB), eq(jobs.key, `${other}:${relays[0]!.id}`)));
    expect(none).toEqual([]);
    expect(await codeOf(handlers[REPLACE_JOB]!({ fileId: other, from: relays[0]!.id, to: relays[1]!.id }, job!))).toBe('CONFLICT');
    expect(await codeOf(enqueueReplacement(database.db, relays[0]!.id, relays[0]!.id))).toBe('BAD_REQUEST');
    expect(await codeOf(enqueueReplacement(database.db, relays[0]!.id, '00000000-0000-4000-8000-000000000000'))).toBe('NOT_FOUND');
    expect(await codeOf(enqueueReplacement(database.db, 'not a relay', relays[1]!.id))).toBe('BAD_REQUEST');
    // A compact file is left out (its data fragments are not Shamir shares: the fresh-x deal does not serve
    // them yet), counted as unsupported, and no job is queued for it.
    await database.db.delete(jobs).where(eq(jobs.kind, REPLACE_JOB));
    const compact = await protect(alice, 'compact.bin', new Uint8Array(randomBytes(5000)), 2, [relays[2]!.id, relays[3]!.id, relays[4]!.id], { mode: 'compact' });
    expect(await enqueueReplacement(database.db, relays[2]!.id, relays[1]!.id)).toMatchObject({ unsupported: 1 });
    const forCompact = await database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, REPLACE_JOB), eq(jobs.key, `${compact}:${relays[2]!.id}`)));
    expect(forCompact).toEqual([]);
    // Clean up the refused jobs so other tests' runners do not meet them.
    await database.db.delete(jobs).where(eq(jobs.kind, REPLACE_JOB));
  }, 120_000);
});

/** Whether a disk relay holds any chunk of the file at any epoch (epoch 0 under the id; renewal ids derived). */
function hasAnyEpoch(relay: TestRelay, fileId: string): boolean {
  const root = join(relay.dataDir, 'chunks');
  try {
    const direct = readdirSync(join(root, fileId.slice(0, 2), fileId)).length > 0;
    if (direct) return true;
  } catch {
    // not at epoch 0
  }
  for (let e = 1; e <= 3; e++) {
    const id = epochStorageId(fileId, e);
    try {
      if (readdirSync(join(root, id.slice(0, 2), id)).length > 0) return true;
    } catch {
      // not at this epoch
    }
  }
  return false;
}
