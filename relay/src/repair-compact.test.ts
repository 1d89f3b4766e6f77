/**
 * Repair of compact files (issue #23; relay/src/repair.ts MODE_HEADER, shared/docs/compact-mode.md) over real
 * relays on loopback: a lost Reed-Solomon fragment is re-encoded from k helpers' fragments by the same
 * masked Lagrange terms as a Shamir share, and the receiver writes it with the helpers' header version,
 * mode and padding. Repaired at its own x, every chunk (key shares and fragments) comes back byte for byte;
 * at a fresh x, the new fragment rebuilds the file with any k-1 others. Helpers that disagree on the mode or
 * send a malformed one are refused.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODE_COMPACT, parseHeader } from '@kofn/shared';
import { thrownCode } from '@kofn/shared/testing';
import { termMode } from './repair.js';
import { protectOnto, rebuild, repairDriver, startCluster, type Cluster, type StoredFile } from './testing/renewal.js';

describe('termMode: the mode helpers send with their terms', () => {
  it('none is a Shamir share; 1:<pad> is compact; disagreeing, malformed or out-of-range padding is a bad answer', () => {
    expect(termMode([null, null], 2, 3)).toEqual({});
    expect(termMode(['1:2', '1:2', '1:2'], 3, 3)).toEqual({ mode: MODE_COMPACT, pad: 2 });
    expect(termMode(['1:0', '1:0'], 2, 0)).toEqual({ mode: MODE_COMPACT, pad: 0 });
    for (const bad of [
      () => termMode(['1:1', null], 2, 1),
      () => termMode(['1:1', '1:0'], 2, 1),
      () => termMode(['1:2', '1:2'], 2, 1),
      () => termMode(['1:1', '1:1'], 2, 0),
      () => termMode(['0:0', '0:0'], 2, 1),
      () => termMode(['1:-1', '1:-1'], 2, 1),
      () => termMode(['1:1000', '1:1000'], 2, 1),
      () => termMode(['compact', 'compact'], 2, 1)
    ])
      expect(thrownCode(bad)).toBe('RELAY_BAD_ANSWER');
  });
});

describe('repair of a compact file (disk relays, (2,4))', () => {
  let cluster: Cluster;
  let file: StoredFile;
  let data: Uint8Array;
  const FRESH_X = 200;
  beforeAll(async () => {
    cluster = await startCluster(4);
    // 4 chunks of 64 KiB and a short fifth: (65,536 + 16) / 2 has no padding, the short chunk has one byte.
    data = new Uint8Array(randomBytes(4 * 64 * 1024 + 5));
    file = await protectOnto(cluster, data, 2, 64 * 1024, 'compact');
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close();
  });

  const driver = () => repairDriver(cluster, file);
  const all = (j: number) => driver().shareOf(j);
  const shares = (relays: number[]) => driver().sharesOf(relays);
  const drop = (j: number) => driver().drop(j);
  /** Relay `receiver` gets the share at `xNew` from the relays at `helpers` (repair.ts start, seeds, collect). */
  const repair = async (receiver: number, helpers: number[], xNew: number) => expect(await driver().repair(receiver, helpers, xNew, 2)).toEqual([200, undefined]);

  it('a parity relay (4) repaired at its own x from the two data relays gets every chunk back byte for byte', async () => {
    const before = await all(3);
    expect(before.every((c) => parseHeader(c).mode === MODE_COMPACT)).toBe(true);
    expect(before.some((c) => (parseHeader(c).pad ?? 0) > 0)).toBe(true);
    await drop(3);
    await repair(3, [0, 1], file.xs[3]!);
    const after = await all(3);
    for (let i = 0; i < file.chunks; i++) expect(Buffer.from(after[i]!).equals(Buffer.from(before[i]!)), `chunk ${i}`).toBe(true);
  }, 60_000);

  it('a data relay (1) repaired at its own x from the two parity relays gets its ciphertext pieces back byte for byte', async () => {
    const before = await all(0);
    await drop(0);
    await repair(0, [2, 3], file.xs[0]!);
    const after = await all(0);
    for (let i = 0; i < file.chunks; i++) expect(Buffer.from(after[i]!).equals(Buffer.from(before[i]!)), `chunk ${i}`).toBe(true);
    expect(Buffer.from(await rebuild(file, shares([0, 1]))).equals(Buffer.from(data))).toBe(true);
  }, 60_000);

  it('relay 4 repaired at a fresh x holds a new fragment that rebuilds the file with any other relay', async () => {
    await drop(3);
    await repair(3, [1, 2], FRESH_X);
    const after = await all(3);
    for (const c of after) {
      expect(parseHeader(c).x).toBe(FRESH_X);
      expect(parseHeader(c).mode).toBe(MODE_COMPACT);
    }
    for (const other of [0, 1, 2]) expect(Buffer.from(await rebuild(file, shares([3, other]))).equals(Buffer.from(data)), `fresh x with relay ${other + 1}`).toBe(true);
  }, 60_000);
});
