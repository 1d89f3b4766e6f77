/**
 * Renewal steps in ranges of chunks (#16, long silent steps: shared/src/step-ranges.ts): deal, prepare and
 * check each take `from`..`to`, so the coordinator never holds one request open over a whole large file.
 * Over real relays on loopback ((2,3), 64 KiB chunks): a renewal dealt, staged and checked range by range
 * passes its check and rebuilds byte-identical at the new epoch; a ranged check answers, with its last range
 * only, tags whose XOR over relays is the whole-file one, and uses the check pads once; a check that skips a range or starts mid-file without its
 * start is refused; bad ranges are 400s.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedEquations, parityWeights } from '@kofn/shared';
import { client, mint, protectOnto, readShare, rebuild, receiversFor, startCluster, unpaddedTags, xorAll, type Cluster, type StoredFile } from './testing/renewal.js';
import { receiversHash } from './renewal.js';

describe('renewal steps in ranges of chunks (disk relays, (2,3))', () => {
  let cluster: Cluster;
  let file: StoredFile;
  let data: Uint8Array;
  const next = 1;
  beforeAll(async () => {
    cluster = await startCluster(3);
    data = new Uint8Array(randomBytes(400_003));
    file = await protectOnto(cluster, data, 2, 64 * 1024);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close();
  });

  const last = () => file.chunks - 1;
  const dxs = () => file.xs.slice(0, file.k);
  const ranges = () =>
    [
      [0, 2],
      [3, 4],
      [5, last()]
    ] as const;
  const step = async (j: number, name: 'prepare' | 'check', body: Record<string, unknown>, extra: Record<string, unknown>) => {
    const r = cluster.relays[j]!;
    const op = name === 'prepare' ? 'renew_prepare' : 'renew_check';
    const res = await r.app.request(`/v1/files/${file.fileId}/epochs/${next}/${name}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await mint(cluster, r, file.fileId, op, { ep: next, dxs: dxs(), ...extra })}`, 'content-type': 'application/json' },
      body: JSON.stringify(body)
    });
    return [res.status, (await res.json()) as { error?: { code: string }; chunks?: Array<{ index: number }>; tags?: string[]; next?: number }] as const;
  };
  /** Every relay's check, range by range. */
  const checkAll = async (key: Uint8Array) => {
    const weights = parityWeights(file.xs, file.k);
    const out: string[][] = [];
    for (const j of cluster.relays.keys()) {
      const body = { key: Buffer.from(key).toString('base64url') };
      for (const [from, to] of ranges()) {
        const [status, a] = await step(j, 'check', { ...body, from, to }, { w: weights[j] });
        expect(status).toBe(200);
        if (to < last()) expect(a).toEqual({ next: to + 1 });
        else out.push(a.tags!);
      }
    }
    return out;
  };

  it('deals, stages and checks range by range: the check passes, the new epoch rebuilds byte-identical', async () => {
    expect(file.chunks).toBeGreaterThanOrEqual(7);
    for (const [from, to] of ranges()) {
      await Promise.all(
        [0, 1].map(async (d) => {
          const receivers = await receiversFor(cluster, file, next, d);
          const token = await mint(cluster, cluster.relays[d]!, file.fileId, 'renew_deal', { ep: next, rh: receiversHash(receivers) });
          expect(await client(cluster.relays[d]!, token).renewalStep(file.fileId, next, 'deal', { receivers, from, to }, 1024)).toEqual({ dealt: to - from + 1 });
        })
      );
    }
    for (const j of cluster.relays.keys()) {
      for (const [from, to] of ranges()) {
        const [status, a] = await step(j, 'prepare', { from, to }, {});
        expect(status).toBe(200);
        expect(a.chunks!.map((c) => c.index)).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i));
      }
    }
    const key = new Uint8Array(randomBytes(16));
    const split = await checkAll(key);
    const tags = split.map((t) => t.map((s) => new Uint8Array(Buffer.from(s, 'base64url'))));
    // What the check reads (the XOR over relays, where the pads cancel) is what whole-file tags give with the
    // same key: ranges change the requests, not the check.
    const whole = await Promise.all(cluster.relays.map((_, j) => unpaddedTags(cluster, file, j, key, next)));
    for (let eq = 0; eq < file.xs.length - file.k + 1; eq++) expect(xorAll(tags, eq).equals(xorAll(whole, eq))).toBe(true);
    // The pads are used once: a second check (whole or ranged, whatever its key) finds none.
    const again = await step(0, 'check', { key: Buffer.from(key).toString('base64url') }, { w: parityWeights(file.xs, file.k)[0] });
    expect([again[0], again[1].error?.code]).toEqual([409, 'RENEWAL_INCOMPLETE']);
    expect(
      await failedEquations(
        tags,
        key,
        file.bodyLengths.map((bodyLength, index) => ({ index, bodyLength }))
      )
    ).toEqual([]);
    for (const pair of [
      [0, 1],
      [0, 2],
      [1, 2]
    ]) {
      const shares = (i: number) => Promise.all(pair.map((j) => readShare(cluster, cluster.relays[j]!, file.fileId, i, next)));
      expect(Buffer.from(await rebuild(file, shares)).equals(Buffer.from(data)), `relays ${pair.join(' and ')}`).toBe(true);
    }
  }, 60_000);

  it('a check that skips a range, or starts mid-file with no start, is refused: RENEWAL_INCOMPLETE', async () => {
    const w = parityWeights(file.xs, file.k)[0];
    const key = { key: Buffer.from(randomBytes(16)).toString('base64url') };
    expect(await step(0, 'check', { ...key, from: 3, to: 4 }, { w })).toEqual([409, { error: { code: 'RENEWAL_INCOMPLETE', message: expect.any(String) } }]);
    expect((await step(0, 'check', { ...key, from: 0, to: 2 }, { w }))[1]).toEqual({ next: 3 });
    expect((await step(0, 'check', { ...key, from: 5, to: last() }, { w }))[1].error?.code).toBe('RENEWAL_INCOMPLETE');
    // The skipped check's tags are gone: resuming where it really stopped no longer works either.
    expect((await step(0, 'check', { ...key, from: 3, to: 4 }, { w }))[1].error?.code).toBe('RENEWAL_INCOMPLETE');
  });

  it('refuses ranges outside the file, reversed or not integers: 400 BAD_REQUEST', async () => {
    const w = parityWeights(file.xs, file.k)[0];
    const key = { key: Buffer.from(randomBytes(16)).toString('base64url') };
    for (const range of [{ from: last() + 1 }, { to: last() + 1 }, { from: 3, to: 2 }, { from: -1 }, { from: 0.5 }, { to: '1' }]) {
      for (const name of ['prepare', 'check'] as const) {
        const [status, a] = await step(0, name, { ...key, ...range }, name === 'check' ? { w } : {});
        expect([status, a.error?.code], `${name} ${JSON.stringify(range)}`).toEqual([400, 'BAD_REQUEST']);
      }
      const receivers = await receiversFor(cluster, file, next + 1, 0);
      const res = await cluster.relays[0]!.app.request(`/v1/files/${file.fileId}/epochs/${next + 1}/deal`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await mint(cluster, cluster.relays[0]!, file.fileId, 'renew_deal', { ep: next + 1, rh: receiversHash(receivers) })}`, 'content-type': 'application/json' },
        body: JSON.stringify({ receivers, ...range })
      });
      expect([res.status, ((await res.json()) as { error?: { code: string } }).error?.code], `deal ${JSON.stringify(range)}`).toEqual([400, 'BAD_REQUEST']);
    }
  });
});
