/**
 * A renewal resumes after a RELAY restart (#15; shared/docs/renewal.md, "Resuming after a relay restart"):
 * real relay processes, (2,3), a 6 MiB + 3 file in ranges of one chunk. The renewal job runs through the job
 * runner (`runOne`); a relay is killed with SIGKILL mid-deal (a dealer, then a receiver that deals nothing) and
 * mid-prepare, the attempt fails, the relay restarts on the same folder, and the runner's retry:
 *
 *   - finds the progress the failed attempt noted (the relay outage does not forget it) and deals only the
 *     ranges from there on, never chunk 0 again (chunk 0 carries the check pads, which the restarted relay
 *     kept in its chunk store), or nothing at all when the deal had finished;
 *   - completes: the file is at epoch 1, healthy by the roots recorded at the switch, every pair of relays
 *     rebuilds it byte-identical through the manifest and through `kofn-recover` of relay folders, and no
 *     check pad is left on any relay (the check consumed them).
 *
 * Between the failure and the retry the file still reads at epoch 0 from every pair, and `kofn-recover`
 * over folders holding half-made epoch 1 (contributions, pads, staged chunks) reports no corrupt share.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { chunkRanges, shareChunkLength, type ChunkRange } from '@kofn/shared';
import { epochStorageId, padsStorageId } from '@kofn/shared/recover';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { files, jobs } from './db/schema.js';
import { createUser } from './auth.js';
import { ensureSigningKey, type SigningKey } from './signing-keys.js';
import type { Ctx } from './file-access.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import { runOne } from './jobs.js';
import { checkFile } from './health.js';
import { manifest } from './files.js';
import { RENEW_JOB, enqueueRenewal, renewalHandlers } from './renewal.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect, retrieveWith } from './testing/protect.js';
import { recover } from './testing/recover.js';

const SIZE = 6 * 1024 * 1024 + 3;
const K = 2;
/** One share chunk per step request: 8 ranges, so a kill lands between them. */
const STEP = shareChunkLength(1024 * 1024);

function subsets<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)];
}

/** Files a disk relay holds under one storage id (relay/src/storage/disk.ts layout). */
function count(relay: TestRelay, storageId: string): number {
  try {
    return readdirSync(join(relay.dataDir, 'chunks', storageId.slice(0, 2), storageId)).length;
  } catch {
    return 0;
  }
}

async function until(what: string, seen: () => boolean, ms = 180_000): Promise<void> {
  const end = Date.now() + ms;
  while (!seen()) {
    if (Date.now() > end) throw new Error(`never saw: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describeDatabases('a renewal resumes after a relay is killed (SIGKILL) and restarted, on $name', { once: true }, ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let alice: Ctx;
  let key: SigningKey;
  let data: Buffer;
  let fileId: string;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, relays: 10 } };
  const timeouts = { headersMs: 5_000, putHeadersMs: 5_000, idleMs: 10_000, totalMs: 60_000 };
  /** The deal ranges each run asked for (renewal.ts onDeal), and a hook that kills a relay at one of them. */
  let dealt: ChunkRange[] = [];
  let atDeal: ((range: ChunkRange) => void) | undefined;
  const handlers = () =>
    renewalHandlers({
      db: database.db,
      key,
      timeouts,
      stepBytes: STEP,
      onDeal: (range) => {
        dealt.push(range);
        atDeal?.(range);
      }
    });

  beforeAll(async () => {
    database = await open();
    key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 3);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const user = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'password 123', role: 'user' }, 10);
    alice = { db: database.db, user, license, key, config };
    data = randomBytes(SIZE);
    fileId = await protect(alice, 'restart.bin', data, K);
  }, 120_000);

  afterAll(async () => {
    await Promise.all((relays ?? []).map((r) => r.stop()));
    await database?.drop();
  });

  const fileRow = async () => (await database.db.select().from(files).where(eq(files.id, fileId)))[0]!;
  const renewJob = async (epoch: number) =>
    (
      await database.db
        .select()
        .from(jobs)
        .where(eq(jobs.key, `${fileId}:${epoch}`))
    ).find((j) => j.kind === RENEW_JOB)!;
  /** Relays by x: the first k are the dealers (renewal.ts picks the first k of the manifest's order). */
  const byX = async (): Promise<Array<{ relay: TestRelay; x: number }>> =>
    (await manifest(alice, fileId)).placements.map((p) => ({ relay: relays.find((r) => r.id === p.relayId)!, x: p.x })).sort((a, b) => a.x - b.x);

  /** The file reads byte-identical at `epoch` through every pair of relays and through kofn-recover of every pair of folders. */
  async function readsAt(epoch: number): Promise<void> {
    const m = await manifest(alice, fileId);
    expect(m.epoch).toBe(epoch);
    for (const set of subsets(m.placements, K)) expect(Buffer.from(await retrieveWith({ ...m, placements: set })).equals(data), `relays ${set.map((p) => p.name).join('+')}`).toBe(true);
    for (const dirs of subsets(
      relays.map((r) => r.dataDir),
      K
    )) {
      expect(recover(dirs).get('restart.bin')?.equals(data), `kofn-recover of ${dirs.join(' ')}`).toBe(true);
    }
  }

  /**
   * One trial: the renewal job's first attempt meets `kill` (which kills a relay and resolves once it is dead),
   * fails, the relay restarts, and the retry resumes. Answers the chunk the retry resumed from.
   */
  async function trial(name: string, victim: () => TestRelay, kill: (done: () => void) => void): Promise<number> {
    const from = (await fileRow()).epoch;
    const ranges = chunkRanges((await fileRow()).chunkCount, STEP, STEP);
    await enqueueRenewal(database.db, fileId);
    dealt = [];
    let killed!: () => void;
    const dead = new Promise<void>((r) => (killed = r));
    kill(killed);
    expect(await runOne(database.db, 'test', handlers())).toBe(true);
    await dead;
    atDeal = undefined;
    const failed = await renewJob(from);
    expect(failed.status, `${name}: the first attempt failed (${failed.lastError ?? ''})`).toBe('pending');
    expect(failed.lastError).toMatch(/not reachable|answered|did not answer|stopped sending/);
    // The relay outage kept the note: the chunk the deal had reached (chunkCount + 1 once it had finished).
    const next = (failed.payload as { resume?: { next?: number } }).resume?.next;
    expect(next, `${name}: progress kept after the relay outage`).toBeGreaterThanOrEqual(1);
    await victim().restart();
    // Meanwhile the file reads at the old epoch from every pair, and half-made epoch 1 is no corrupt share.
    expect((await fileRow()).epoch).toBe(from);
    await readsAt(from);
    // The runner's retry (its backoff cut short).
    dealt = [];
    await database.db
      .update(jobs)
      .set({ runAfter: new Date(0) })
      .where(eq(jobs.id, failed.id));
    expect(await runOne(database.db, 'test', handlers())).toBe(true);
    const done = await renewJob(from);
    expect(done.status, `${name}: the retry completed (${done.lastError ?? ''})`).toBe('done');
    // Only the ranges from the noted chunk on were dealt again; chunk 0 (with the check pads) never.
    expect(dealt).toEqual(ranges.filter(([, to]) => to >= next!).map(([a, b]) => [Math.max(a, next!), b]));
    expect(dealt.some(([a]) => a === 0)).toBe(false);
    expect((await fileRow()).epoch).toBe(from + 1);
    expect((await checkFile(database.db, key, fileId, timeouts))?.state).toBe('healthy');
    await readsAt(from + 1);
    // The check consumed every relay's pads.
    const dxs = (await byX()).slice(0, K).map((h) => h.x);
    for (const r of relays) for (const d of dxs) expect(count(r, padsStorageId(fileId, from + 1, d)), `pads of dealer ${d} left on ${r.name}`).toBe(0);
    return next!;
  }

  it('a dealer killed mid-deal: the retry deals only the ranges from where the deal stopped', { timeout: 300_000 }, async () => {
    const dealer = (await byX())[0]!.relay;
    const next = await trial(
      'dealer mid-deal',
      () => dealer,
      (done) => {
        atDeal = (range) => {
          // Ranges 0..2 are dealt (chunk 0's pads included) and noted; the kill comes as range 3 starts.
          if (range[0] === 3) {
            atDeal = undefined;
            void dealer.kill().then(done);
          }
        };
      }
    );
    // The kill lands as range 3 starts (range 3 itself may just have gone through before the relay died).
    expect(next).toBeGreaterThanOrEqual(3);
    expect(next).toBeLessThanOrEqual((await fileRow()).chunkCount);
  });

  it('a receiver (no dealer) killed mid-deal: it kept its check pads on disk, and the retry resumes', { timeout: 300_000 }, async () => {
    const hs = await byX();
    const receiver = hs[K]!.relay;
    const from = (await fileRow()).epoch;
    let padsWhenKilled: number[] = [];
    const next = await trial(
      'receiver mid-deal',
      () => receiver,
      (done) => {
        atDeal = (range) => {
          if (range[0] === 4) {
            atDeal = undefined;
            padsWhenKilled = hs.slice(0, K).map((h) => count(receiver, padsStorageId(fileId, from + 1, h.x)));
            void receiver.kill().then(done);
          }
        };
      }
    );
    // Chunk 0 had been dealt: the receiver held both dealers' pads in its store when it died.
    expect(padsWhenKilled).toEqual([1, 1]);
    expect(next).toBeGreaterThanOrEqual(4);
    expect(next).toBeLessThanOrEqual((await fileRow()).chunkCount);
  });

  it('a relay killed mid-prepare: the retry deals nothing and finishes the prepare', { timeout: 300_000 }, async () => {
    const victim = (await byX())[1]!.relay;
    const from = (await fileRow()).epoch;
    const next = await trial(
      'mid-prepare',
      () => victim,
      (done) => {
        // Two chunks of the new epoch staged on the victim: the prepare is under way.
        void until('a staged chunk', () => count(victim, epochStorageId(fileId, from + 1)) >= 2).then(() => victim.kill().then(done));
      }
    );
    expect(next).toBe((await fileRow()).chunkCount + 1);
  });
});
