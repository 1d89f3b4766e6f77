/**
 * Repair by relays at a renewed epoch (#15 with #16), relay side, over real relays on loopback (disk and
 * S3): helpers read their shares at the epoch the coordinator's token names, the receiver stores the
 * rebuilt share under that epoch's storage id, byte-identical to the share it lost, and a token for
 * another epoch than the body names is refused.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenOp } from '@kofn/shared';
import { epochId } from './renewal.js';
import { client, dealPrepareCheck, mint, protectOnto, readShare, rebuild, startCluster, type Cluster, type StorageKind, type StoredFile } from './testing/renewal.js';

describe.each<StorageKind>(['disk', 's3'])('repair at a renewed epoch on %s relays', (storage) => {
  let cluster: Cluster;
  let file: StoredFile;
  let data: Uint8Array;
  const lost = 3;
  const helpers = [0, 2];
  beforeAll(async () => {
    cluster = await startCluster(4, storage);
    data = new Uint8Array(randomBytes(200_001));
    file = await protectOnto(cluster, data, 2);
    expect(await dealPrepareCheck(cluster, file, 0)).toEqual([]);
    // The coordinator's switch and the drop of epoch 0 after its grace: only epoch 1 remains.
    for (const r of cluster.relays) await client(r, await mint(cluster, r, file.fileId, 'renew_drop', { ep: 0, dxs: [] })).dropEpoch(file.fileId, 0);
  }, 60_000);
  afterAll(async () => {
    await cluster?.close();
  });

  const post = async (j: number, path: string, op: TokenOp, body: unknown, extra: Record<string, unknown>) => {
    const r = cluster.relays[j]!;
    const res = await r.app.request(`/v1/repair/${file.fileId}/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await mint(cluster, r, file.fileId, op, { chunks: [0, 0], ...extra })}`, 'content-type': 'application/json' },
      body: JSON.stringify(body)
    });
    return [res.status, ((await res.json()) as { error?: { code: string } }).error?.code] as const;
  };

  /** The coordinator's steps (web/src/lib/server/repair.ts rebuildShareOn) with tokens naming `ep`. */
  async function repair(ep: number): Promise<readonly [number, string | undefined]> {
    const rid = randomBytes(16).toString('hex');
    const xs = helpers.map((j) => file.xs[j]!);
    for (const [self, j] of helpers.entries()) {
      const peers = await Promise.all(
        helpers.slice(self + 1).map(async (p) => ({ url: cluster.relays[p]!.url, token: await mint(cluster, cluster.relays[p]!, file.fileId, 'repair_seed', { chunks: [self, self], ep }) }))
      );
      const started = await post(j, 'start', 'repair_start', { rid, xs, self, xNew: file.xs[lost], epoch: 1, chunkCount: file.chunks - 1, peers }, { ep });
      if (started[0] !== 200) return started;
    }
    const sources = await Promise.all(helpers.map(async (j) => ({ url: cluster.relays[j]!.url, token: await mint(cluster, cluster.relays[j]!, file.fileId, 'repair_send', { chunks: [0, 0], ep }) })));
    return post(lost, 'collect', 'repair_collect', { rid, x: file.xs[lost], k: 2, epoch: 1, chunkCount: file.chunks - 1, helpers: sources }, { ep });
  }

  it('a lost epoch-1 share is rebuilt at epoch 1, byte-identical, from the helpers\u2019 epoch-1 shares', async () => {
    const r = cluster.relays[lost]!;
    const before = await Promise.all(Array.from({ length: file.chunks }, (_, i) => readShare(cluster, r, file.fileId, i, 1)));
    expect(await client(r, await mint(cluster, r, file.fileId, 'renew_drop', { ep: 1, dxs: [] })).dropEpoch(file.fileId, 1)).toBe(file.chunks);
    expect(await r.store.list(epochId(file.fileId, 1))).toEqual([]);

    // Tokens that do not name the body's epoch (absent = epoch 0) are refused at the first step.
    expect(await repair(0)).toEqual([403, 'TOKEN_OUT_OF_SCOPE']);
    expect(await repair(1)).toEqual([200, undefined]);

    // Stored under epoch 1's id, nothing under the file id (epoch 0), and the same bytes as before.
    expect((await r.store.list(epochId(file.fileId, 1))).length).toBe(file.chunks);
    expect(await r.store.list(file.fileId)).toEqual([]);
    for (let i = 0; i < file.chunks; i++) expect(Buffer.from(await readShare(cluster, r, file.fileId, i, 1)).equals(Buffer.from(before[i]!))).toBe(true);
    // With a share that was not a helper, it rebuilds the file.
    const got = await rebuild(file, (i) => Promise.all([lost, 1].map((j) => readShare(cluster, cluster.relays[j]!, file.fileId, i, 1))));
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
  }, 60_000);

  it('a collect token for another epoch than the body is refused; so is a helper\u2019s term asked with one', async () => {
    expect(
      await post(
        lost,
        'collect',
        'repair_collect',
        {
          rid: '00'.repeat(16),
          x: file.xs[lost],
          k: 2,
          epoch: 1,
          chunkCount: 0,
          helpers: [
            { url: 'http://127.0.0.1:1', token: 'a.b.c' },
            { url: 'http://127.0.0.1:1', token: 'a.b.c' }
          ]
        },
        { ep: 2 }
      )
    ).toEqual([403, 'TOKEN_OUT_OF_SCOPE']);
    const rid = randomBytes(16).toString('hex');
    const h = cluster.relays[helpers[1]!]!;
    const xs = helpers.map((j) => file.xs[j]!);
    // Helper 1 of 2 with helper 0's seed delivered, at epoch 1 ...
    expect(await post(helpers[1]!, 'seed', 'repair_seed', { rid, from: 0, seed: randomBytes(32).toString('base64url') }, { chunks: [0, 0] })).toEqual([200, undefined]);
    expect(await post(helpers[1]!, 'start', 'repair_start', { rid, xs, self: 1, xNew: file.xs[lost], epoch: 1, chunkCount: file.chunks - 1, peers: [] }, { ep: 1 })).toEqual([200, undefined]);
    // ... refuses a term request whose token names epoch 0, and serves one naming epoch 1.
    const ask = async (ep: number) =>
      (await h.app.request(`/v1/repair/${file.fileId}/chunks/0`, { headers: { authorization: `Bearer ${await mint(cluster, h, file.fileId, 'repair_send', { chunks: [0, 0], ep })}` } })).status;
    expect(await ask(0)).toBe(403);
    expect(await ask(1)).toBe(200);
  });
});
