/**
 * Collect in ranges of chunks (#16, long silent steps): the coordinator asks a receiver for one range per
 * request (shared/src/step-ranges.ts) so that no request stays silent past the relays' idle cut. Over real
 * relays on loopback: a share rebuilt range by range, within one repair session, is the very share lost;
 * the copy form works the same way; a range outside the file, or reversed, is a 400 before any work; a
 * range asked again meets helpers that serve each term once.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenOp } from '@kofn/shared';
import { mint, protectOnto, repairDriver, startCluster, type Cluster, type StoredFile } from './testing/renewal.js';

describe('repair collect in ranges of chunks (disk relays, (2,4))', () => {
  let cluster: Cluster;
  let file: StoredFile;
  beforeAll(async () => {
    cluster = await startCluster(4);
    file = await protectOnto(cluster, new Uint8Array(randomBytes(300_007)), 2, 64 * 1024);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close();
  });

  const last = () => file.chunks - 1;
  const driver = () => repairDriver(cluster, file);
  const post = (j: number, path: string, op: TokenOp, body: unknown) => driver().post(j, path, op, body);
  const shareOf = (j: number) => driver().shareOf(j);
  /** Relay j loses its share (a disk loss). */
  const drop = (j: number) => driver().drop(j);
  /** Starts a repair of relay `target`'s share at its own x on helpers 0 and 1; answers the collect body. */
  const start = async (target: number) => {
    const helpers = [0, 1];
    const xs = helpers.map((j) => file.xs[j]!);
    const rid = randomBytes(16).toString('hex');
    for (const [self, j] of helpers.entries()) {
      const peers = await Promise.all(
        helpers.slice(self + 1).map(async (p) => ({ url: cluster.relays[p]!.url, token: await mint(cluster, cluster.relays[p]!, file.fileId, 'repair_seed', { chunks: [self, self] }) }))
      );
      const [status] = await post(j, 'start', 'repair_start', { rid, xs, self, xNew: file.xs[target], epoch: 0, chunkCount: last(), peers });
      expect(status).toBe(200);
    }
    const sources = await Promise.all(helpers.map(async (j) => ({ url: cluster.relays[j]!.url, token: await mint(cluster, cluster.relays[j]!, file.fileId, 'repair_send', { chunks: [0, 0] }) })));
    return { rid, x: file.xs[target], k: 2, epoch: 0, chunkCount: last(), helpers: sources };
  };

  it('rebuilds a lost share range by range, byte-identical; answers each range\u2019s digests from its first index', async () => {
    expect(file.chunks).toBeGreaterThanOrEqual(5);
    const before = await shareOf(3);
    await drop(3);
    const body = await start(3);
    const ranges = [
      [0, 1],
      [2, 3],
      [4, last()]
    ] as const;
    for (const [from, to] of ranges) {
      const [status, answer] = await post(3, 'collect', 'repair_collect', { ...body, from, to });
      expect(status).toBe(200);
      expect(answer.from).toBe(from);
      expect(answer.digests).toHaveLength(to - from + 1);
    }
    const after = await shareOf(3);
    for (let i = 0; i < file.chunks; i++) expect(Buffer.from(after[i]!).equals(Buffer.from(before[i]!)), `chunk ${i}`).toBe(true);
    // A range asked again: each helper served each term once (and ended the session after the last), so
    // the receiver gets none.
    const [status, again] = await post(3, 'collect', 'repair_collect', { ...body, from: 0, to: 0 });
    expect(status).toBe(424);
    expect(again.error?.code).toBe('RELAY_BAD_ANSWER');
  }, 60_000);

  it('copies a share range by range (the copy form of collect)', async () => {
    const original = await shareOf(2);
    await drop(3);
    const token = await mint(cluster, cluster.relays[2]!, file.fileId, 'get', { chunks: [0, last()] });
    const body = { rid: '00'.repeat(16), x: file.xs[2], k: 2, epoch: 0, chunkCount: last(), source: { url: cluster.relays[2]!.url, token } };
    for (const [from, to] of [
      [0, 2],
      [3, last()]
    ]) {
      const [status, answer] = await post(3, 'collect', 'repair_collect', { ...body, from, to });
      expect([status, answer.digests?.length]).toEqual([200, to! - from! + 1]);
    }
    const copied = await shareOf(3);
    for (let i = 0; i < file.chunks; i++) expect(Buffer.from(copied[i]!).equals(Buffer.from(original[i]!)), `chunk ${i}`).toBe(true);
  }, 60_000);

  it('refuses a range outside the file, reversed or not integers with 400 BAD_REQUEST, storing nothing', async () => {
    await drop(3);
    const body = { rid: '00'.repeat(16), x: file.xs[2], k: 2, epoch: 0, chunkCount: last(), source: { url: cluster.relays[2]!.url, token: 'a.b.c' } };
    for (const range of [{ from: last() + 1 }, { to: last() + 1 }, { from: 3, to: 2 }, { from: -1 }, { from: 1.5 }, { to: '2' }]) {
      const [status, answer] = await post(3, 'collect', 'repair_collect', { ...body, ...range });
      expect([status, answer.error?.code], JSON.stringify(range)).toEqual([400, 'BAD_REQUEST']);
    }
    expect(await cluster.relays[3]!.store.list(file.fileId)).toEqual([]);
  });
});
