/**
 * Repair onto a fresh x (#16: "onto a replacement relay with a fresh x"), relay side, over real relays on
 * loopback: a relay that lost its share receives a share at an x no relay held before, from k helpers, and
 * that share combines with any other k-1 shares into the file byte-identical. And the copy form of collect
 * (a move off a draining relay, relay/src/repair.ts copyShare): the very share at the same x arrives
 * byte-identical; a source that hands over another share, a malformed source, or a source that refuses are
 * clear 4xx/5xx errors with a code, and nothing is stored.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHeader, type TokenOp } from '@kofn/shared';
import { client, mint, protectOnto, readShare, rebuild, startCluster, type Cluster, type StoredFile } from './testing/renewal.js';

describe('repair onto a fresh x, and the copy form of collect (disk relays, (2,4))', () => {
  let cluster: Cluster;
  let file: StoredFile;
  let data: Uint8Array;
  const FRESH_X = 200;
  beforeAll(async () => {
    cluster = await startCluster(4);
    data = new Uint8Array(randomBytes(300_007));
    file = await protectOnto(cluster, data, 2, 64 * 1024);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close();
  });

  const post = async (j: number, path: string, op: TokenOp, body: unknown, extra: Record<string, unknown> = {}) => {
    const r = cluster.relays[j]!;
    const res = await r.app.request(`/v1/repair/${file.fileId}/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await mint(cluster, r, file.fileId, op, { chunks: [0, 0], ...extra })}`, 'content-type': 'application/json' },
      body: JSON.stringify(body)
    });
    return [res.status, ((await res.json()) as { error?: { code: string } }).error?.code] as const;
  };
  const drop = async (j: number) => {
    const r = cluster.relays[j]!;
    await client(r, await mint(cluster, r, file.fileId, 'renew_drop', { ep: 0, dxs: [] })).dropEpoch(file.fileId, 0);
  };
  const shares = (relays: number[]) => (i: number) => Promise.all(relays.map((j) => readShare(cluster, cluster.relays[j]!, file.fileId, i, 0)));

  it('relay 4 loses its share and receives one at a fresh x from relays 1 and 2; it rebuilds the file with any other share', async () => {
    const before = await readShare(cluster, cluster.relays[3]!, file.fileId, 1, 0);
    await drop(3);
    const helpers = [0, 1];
    const xs = helpers.map((j) => file.xs[j]!);
    expect(xs).not.toContain(FRESH_X);
    const rid = randomBytes(16).toString('hex');
    for (const [self, j] of helpers.entries()) {
      const peers = await Promise.all(
        helpers.slice(self + 1).map(async (p) => ({ url: cluster.relays[p]!.url, token: await mint(cluster, cluster.relays[p]!, file.fileId, 'repair_seed', { chunks: [self, self] }) }))
      );
      expect(await post(j, 'start', 'repair_start', { rid, xs, self, xNew: FRESH_X, epoch: 0, chunkCount: file.chunks - 1, peers })).toEqual([200, undefined]);
    }
    const sources = await Promise.all(helpers.map(async (j) => ({ url: cluster.relays[j]!.url, token: await mint(cluster, cluster.relays[j]!, file.fileId, 'repair_send', { chunks: [0, 0] }) })));
    expect(await post(3, 'collect', 'repair_collect', { rid, x: FRESH_X, k: 2, epoch: 0, chunkCount: file.chunks - 1, helpers: sources })).toEqual([200, undefined]);

    const after = await readShare(cluster, cluster.relays[3]!, file.fileId, 1, 0);
    expect(parseHeader(after).x).toBe(FRESH_X);
    // A new point of the same polynomial, not the share it lost.
    expect(Buffer.from(after).equals(Buffer.from(before))).toBe(false);
    for (const other of [0, 1, 2]) expect(Buffer.from(await rebuild(file, shares([3, other]))).equals(Buffer.from(data)), `fresh x with relay ${other + 1}`).toBe(true);
  }, 60_000);

  it('copy: relay 4 takes relay 3\u2019s share (same x) byte-identical; another share, a malformed or a refusing source are refused and store nothing', async () => {
    // Relay 3's share (x_3) is copied onto relay 4 after relay 4 drops what it holds: the header says x_3.
    const original = await Promise.all(Array.from({ length: file.chunks }, (_, i) => readShare(cluster, cluster.relays[2]!, file.fileId, i, 0)));
    await drop(3);
    const source = async (j: number, extra: Record<string, unknown> = {}) => ({
      url: cluster.relays[j]!.url,
      token: await mint(cluster, cluster.relays[j]!, file.fileId, 'get', { chunks: [0, file.chunks - 1], ...extra })
    });
    const body = async (src: unknown, x = file.xs[2]) => ({ rid: '00'.repeat(16), x, k: 2, epoch: 0, chunkCount: file.chunks - 1, source: src });
    // A source holding another share (relay 1 at x_1) for x_3: refused by header, nothing stored.
    expect(await post(3, 'collect', 'repair_collect', await body(await source(0)))).toEqual([400, 'BAD_SHARE_FORMAT']);
    expect(await cluster.relays[3]!.store.list(file.fileId)).toEqual([]);
    // Malformed sources: 400 before anything is fetched.
    expect(await post(3, 'collect', 'repair_collect', await body({ url: 'ftp://x', token: 'a.b.c' }))).toEqual([400, 'BAD_REQUEST']);
    expect(await post(3, 'collect', 'repair_collect', await body({ url: cluster.relays[2]!.url, token: 'not a token' }))).toEqual([400, 'BAD_REQUEST']);
    expect(await post(3, 'collect', 'repair_collect', await body('x'))).toEqual([400, 'BAD_REQUEST']);
    // A source that refuses (a token minted for another relay): a clear error naming no share, nothing stored.
    const wrong = { url: cluster.relays[2]!.url, token: (await source(0)).token };
    // 424 Failed Dependency (http-error.ts): the request was fine, the relay it depends on refused.
    expect(await post(3, 'collect', 'repair_collect', await body(wrong))).toEqual([424, 'RELAY_BAD_ANSWER']);
    expect(await cluster.relays[3]!.store.list(file.fileId)).toEqual([]);
    // The real copy: the same bytes as the source holds, chunk by chunk.
    expect(await post(3, 'collect', 'repair_collect', await body(await source(2)))).toEqual([200, undefined]);
    for (let i = 0; i < file.chunks; i++) expect(Buffer.from(await readShare(cluster, cluster.relays[3]!, file.fileId, i, 0)).equals(Buffer.from(original[i]!))).toBe(true);
    // A collect token for another epoch than the body names is refused, as for a rebuild.
    expect(await post(3, 'collect', 'repair_collect', await body(await source(2)), { ep: 1 })).toEqual([403, 'TOKEN_OUT_OF_SCOPE']);
  }, 60_000);
});
