/**
 * The coordinator renews tree files (#21 with #15; shared/docs/renewal.md, "Tree files") on PGlite and
 * PostgreSQL with seven real relay processes: a tree of K = 2 over groups (2 of 3), (2 of 2), (2 of 2) is
 * renewed by the job ("renew now", then the schedule), its epoch flips, every relay's share changes, it
 * retrieves byte-identical from K groups with k_g relays each, the check finds it healthy by the roots
 * recorded for the new epoch, kofn-recover rebuilds it from relay folders, and a sub-share lost at the renewed
 * epoch is repaired by its own group. A tree with a group on another
 * deployment is still skipped: renewOnce answers 'stale', "renew now" refuses, the schedule and "renew all"
 * leave it out.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { RelayClient, shareChunkLength } from '@kofn/shared';
import { epochStorageId } from '@kofn/shared/recover';
import { afterEach, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import { federationRemotes, files, history, jobs } from './db/schema.js';
import { commitFile } from './files.js';
import { reserveFile } from './reservations.js';
import { checkFile } from './health.js';
import { repairShare } from './repair.js';
import { mintCapability } from './signing-keys.js';
import { runOne } from './jobs.js';
import { RENEW_JOB, renewAll, renewNow, renewOnce, renewalHandlers, scheduleRenewals } from './renewal.js';
import { retrieveTree, roots, uploadTree } from './testing/protect.js';
import { chunksOn, recover } from './testing/recover.js';
import { errorCode, useFileServices } from './testing/file-services.js';

describeDatabases('renewal of tree files on $name with seven real relays', ({ open }) => {
  const fx = useFileServices(open, 7);
  const ids = () => fx.relays.map((r) => r.id);
  /** 2 of 3 groups: relays 0-2 (any 2), 3-4 (both), 5-6 (both). */
  const layout = () => ({
    kind: 'tree',
    k: 2,
    groups: [
      { kind: 'local', k: 2, label: 'cloud A', relays: ids().slice(0, 3) },
      { kind: 'local', k: 2, label: 'cloud B', relays: ids().slice(3, 5) },
      { kind: 'local', k: 2, label: 'cloud C', relays: ids().slice(5, 7) }
    ]
  });
  const deps = () => ({ db: fx.database.db, key: fx.alice.key, timeouts: { headersMs: 10_000, putHeadersMs: 10_000, idleMs: 10_000, totalMs: 60_000 } });
  const fileRow = async (id: string) => (await fx.database.db.select().from(files).where(eq(files.id, id)))[0]!;
  afterEach(async () => {
    await fx.database.db.delete(federationRemotes);
  });

  it('renewed by the job twice: epoch flips, every share changes, it retrieves from any K groups, checks healthy and recovers offline', async () => {
    const data = randomBytes(300_000);
    const u = await uploadTree(fx.alice, 'tree-renew.bin', data, layout());
    await commitFile(fx.alice, u.fileId, { roots: await roots(u) });
    const handlers = renewalHandlers(deps());
    for (const epoch of [0, 1]) {
      const before = await Promise.all(fx.relays.map((_, j) => readEpoch(j, u.fileId, epoch)));
      if (epoch === 0) expect(await renewNow(fx.alice, u.fileId)).toMatchObject({ fileId: u.fileId, epoch: 0, queued: true });
      // The schedule takes a tree without remote groups like a flat file (with a 1 ms maximum age it is due now).
      else expect(await scheduleRenewals(fx.database.db, 1, 1000, new Date())).toBeGreaterThan(0);
      while (await runOne(fx.database.db, 'w1', handlers));
      const row = await fileRow(u.fileId);
      const job = await fx.database.db
        .select()
        .from(jobs)
        .where(eq(jobs.key, `${u.fileId}:${epoch}`));
      expect(row.epoch, job[0]?.lastError ?? '').toBe(epoch + 1);
      const after = await Promise.all(fx.relays.map((_, j) => readEpoch(j, u.fileId, epoch + 1)));
      // Every relay's share changed at every chunk.
      after.forEach((chunks, j) => chunks.forEach((c, i) => expect(c.equals(before[j]![i]!), `relay ${j} chunk ${i}`).toBe(false)));
      for (const use of [
        [0, 1, 3, 4],
        [1, 2, 5, 6],
        [3, 4, 5, 6]
      ])
        expect(
          Buffer.from(
            await retrieveTree(
              fx.alice,
              u.fileId,
              use.map((j) => ids()[j]!)
            )
          ).equals(data),
          use.join(',')
        ).toBe(true);
      // The roots recorded in the switch describe the new epoch: the check finds every share good.
      expect((await checkFile(fx.database.db, fx.alice.key, u.fileId))?.state).toBe('healthy');
      // kofn-recover from the folders of K groups with k_g relays each: the newest epoch that rebuilds.
      const out = recover([0, 2, 3, 4].map((j) => fx.relays[j]!.dataDir));
      expect(out.get('tree-renew.bin')?.equals(data)).toBe(true);
    }
    // A sub-share lost at the renewed epoch is rebuilt by its own group at that epoch, byte for byte (the
    // same polynomial and x), and verified against the root the switch recorded.
    const lost = fx.relays[1]!;
    const held = await readEpoch(1, u.fileId, 2);
    const dir = epochStorageId(u.fileId, 2);
    rmSync(join(lost.dataDir, 'chunks', dir.slice(0, 2), dir), { recursive: true, force: true });
    expect((await checkFile(fx.database.db, fx.alice.key, u.fileId))?.shares.find((sh) => sh.relayId === lost.id)?.state).toBe('missing');
    expect(await repairShare(fx.database.db, fx.alice.key, u.fileId, lost.id)).toBe('repaired');
    (await readEpoch(1, u.fileId, 2)).forEach((c, i) => expect(c.equals(held[i]!), `chunk ${i}`).toBe(true));
    expect(
      Buffer.from(
        await retrieveTree(
          fx.alice,
          u.fileId,
          [1, 2, 3, 4].map((j) => ids()[j]!)
        )
      ).equals(data)
    ).toBe(true);
    const renewed = await fx.database.db
      .select()
      .from(history)
      .where(and(eq(history.fileId, u.fileId), eq(history.operation, 'renew')));
    expect(renewed.map((h) => h.result)).toEqual(['ok', 'ok']);
  });

  /** Relay j's share chunks of the file at `epoch`, read through the relay (a get token naming the epoch). */
  async function readEpoch(j: number, fileId: string, epoch: number): Promise<Buffer[]> {
    const r = fx.relays[j]!;
    const row = await fileRow(fileId);
    const token = await mintCapability(fx.alice.key, { relayId: r.id, userId: 'coordinator', fid: fileId, op: 'get', chunks: [0, row.chunkCount], ttl: 300, ep: epoch });
    const c = new RelayClient({ id: r.id, name: r.name, url: r.url }, { token: () => token });
    const out: Buffer[] = [];
    for (let i = 0; i <= row.chunkCount; i++) out.push(Buffer.from(await c.get(fileId, i, shareChunkLength(Math.max(row.chunkSize, 1340)))));
    return out;
  }

  it('a tree with a group on another deployment is still skipped: stale, "renew now" refused, never scheduled or renewed by "renew all"', async () => {
    await fx.database.db.insert(federationRemotes).values({
      id: 'remote-1',
      url: 'https://x.test',
      name: 'X',
      deploymentId: 'dep-x',
      fingerprint: 'f'.repeat(64),
      linkHandle: 'handle',
      linkToken: 'sealed',
      relays: [],
      status: 'ok',
      lastCheckedAt: new Date()
    });
    const remoteLayout = {
      kind: 'tree',
      k: 3,
      groups: [
        { kind: 'local', k: 2, relays: ids().slice(0, 3) },
        { kind: 'local', k: 2, relays: ids().slice(3, 5) },
        { kind: 'remote', deployment: 'dep-x', k: 2, n: 3, fileId: '0123456789abcdef'.repeat(2) }
      ]
    };
    const r = await reserveFile(fx.alice, { name: 'fed-renew.bin', size: 10, type: 'application/octet-stream', layout: remoteLayout });
    // Its local part's upload is not what this test is about: the row is made available directly.
    await fx.database.db
      .update(files)
      .set({ status: 'available', committedAt: new Date(0) })
      .where(eq(files.id, r.fileId));
    const held = fx.relays.map((relay) => chunksOn(relay).sort());
    expect(await renewOnce(deps(), r.fileId, 0)).toBe('stale');
    expect(await errorCode(renewNow(fx.alice, r.fileId))).toBe('LAYOUT_NOT_SUPPORTED');
    await scheduleRenewals(fx.database.db, 1, 1000, new Date(Date.now() + 365 * 86_400_000));
    await renewAll(fx.database.db);
    const queued = await fx.database.db.select().from(jobs).where(eq(jobs.kind, RENEW_JOB));
    expect(queued.some((j) => (j.payload as { fileId?: string }).fileId === r.fileId)).toBe(false);
    expect((await fileRow(r.fileId)).epoch).toBe(0);
    // Nothing of an epoch 1 (nor a contribution) was made anywhere.
    expect(fx.relays.map((relay) => chunksOn(relay).sort())).toEqual(held);
  });
});
