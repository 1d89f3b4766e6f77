/**
 * Repair of tree files (issue #21; relay/src/repair.ts GROUP_HEADER, shared/docs/multilevel.md) over real
 * relays on loopback: a relay's sub-share lies on its group's polynomial (degree k_g - 1), so the group's
 * own relays rebuild it with the same masked Lagrange terms as a flat share, at k_g, and the receiver
 * writes the helpers' version-3 header with their group point (X_g, K). Repaired at its own x, every chunk
 * comes back byte for byte and the file rebuilds from the tree; helpers that disagree on the group or send
 * a malformed one are refused.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHeader, type TreeManifest } from '@kofn/shared';
import { thrownCode } from '@kofn/shared/testing';
import { termGroup } from './repair.js';
import { protectOnto, rebuild, repairDriver, startCluster, type Cluster, type StoredFile } from './testing/renewal.js';

describe('termGroup: the group point helpers send with their terms', () => {
  it('none is a flat share; <X>:<K> is a tree sub-share; disagreeing, malformed or out-of-range points are a bad answer', () => {
    expect(termGroup([null, null])).toEqual({});
    expect(termGroup(['7:2', '7:2'])).toEqual({ group: { x: 7, k: 2 } });
    expect(termGroup(['255:255', '255:255', '255:255'])).toEqual({ group: { x: 255, k: 255 } });
    for (const bad of [
      ['7:2', null],
      ['7:2', '8:2'],
      ['7:2', '7:3'],
      ['0:2', '0:2'],
      ['256:2', '256:2'],
      ['7:0', '7:0'],
      ['7:256', '7:256'],
      ['7', '7'],
      ['7:2:1', '7:2:1'],
      ['-1:2', '-1:2']
    ])
      expect(
        thrownCode(() => termGroup(bad)),
        JSON.stringify(bad)
      ).toBe('RELAY_BAD_ANSWER');
  });
});

describe('repair of a tree file (disk relays, K = 2 over two groups of three, k_g = 2)', () => {
  let cluster: Cluster;
  let file: StoredFile;
  let data: Uint8Array;
  // Group A (x 40) holds relays 0-2, group B (x 90) relays 3-5; relay x's distinct over the file.
  const tree = (ids: string[]): TreeManifest => ({
    kind: 'tree',
    k: 2,
    groups: [
      { kind: 'local', x: 40, k: 2, relays: ids.slice(0, 3).map((relayId, j) => ({ relayId, x: 11 + j })) },
      { kind: 'local', x: 90, k: 2, relays: ids.slice(3).map((relayId, j) => ({ relayId, x: 61 + j })) }
    ]
  });
  beforeAll(async () => {
    cluster = await startCluster(6);
    data = new Uint8Array(randomBytes(3 * 64 * 1024 + 9));
    file = await protectOnto(cluster, data, 2, 64 * 1024, 'shamir', tree(cluster.relays.map((r) => r.id)));
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close();
  });

  const driver = () => repairDriver(cluster, file);
  const all = (j: number) => driver().shareOf(j);
  const shares = (relays: number[]) => driver().sharesOf(relays);
  const drop = (j: number) => driver().drop(j);
  const repair = (receiver: number, helpers: number[], xNew: number, k: number) => driver().repair(receiver, helpers, xNew, k);

  it('relay 1 of group A, repaired at its own x from the two other relays of its group, gets every chunk back byte for byte, version-3 header included', async () => {
    const before = await all(0);
    expect(before.map((c) => parseHeader(c).group)).toEqual(before.map(() => ({ x: 40, k: 2 })));
    await drop(0);
    expect(await repair(0, [1, 2], file.xs[0]!, 2)).toEqual([200, undefined]);
    const after = await all(0);
    for (let i = 0; i < file.chunks; i++) expect(Buffer.from(after[i]!).equals(Buffer.from(before[i]!)), `chunk ${i}`).toBe(true);
    // The rebuilt sub-share serves the tree: group A from relays 1 and 2, group B from relays 4 and 5.
    expect(Buffer.from(await rebuild(file, shares([0, 1, 3, 4]))).equals(Buffer.from(data))).toBe(true);
  }, 60_000);

  it('helpers from two groups disagree on the group point: the collect is refused and nothing is stored', async () => {
    await drop(5);
    // Relay 4 (group B) and relay 1 (group A): a coordinator that mixed groups would rebuild garbage.
    const [status, code] = await repair(5, [0, 3], file.xs[5]!, 2);
    expect([status, code]).toEqual([424, 'RELAY_BAD_ANSWER']);
    expect(await cluster.relays[5]!.store.list(file.fileId)).toEqual([]);
    // Rebuilt by its own group, it comes back.
    expect(await repair(5, [3, 4], file.xs[5]!, 2)).toEqual([200, undefined]);
    expect(Buffer.from(await rebuild(file, shares([1, 2, 4, 5]))).equals(Buffer.from(data))).toBe(true);
  }, 60_000);
});
