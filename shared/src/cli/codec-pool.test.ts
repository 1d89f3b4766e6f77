/**
 * The worker-thread codec (issue #20 "uses all cores"): real worker threads running the built protocol
 * core (dist/, as `kofn` runs it; `npm test -w shared` builds first). Shares split in workers rebuild on
 * the main thread and the other way round, byte for byte; buffers go to the workers and come back;
 * a forged share fails with its stable code across the thread boundary; and the work is spread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShareDecoder, ShareEncoder, newMacKey, shareChunkLength } from '../codec.js';
import { CompactEncoder } from '../compact.js';
import { TreeDecoder, TreeEncoder } from '../multilevel.js';
import { dataShareChunkLength } from '../share-sizes.js';
import type { TreeManifest } from '../layout.js';
import { fileIdFromHex, newFileId } from '../ids.js';
import { randomBytes } from '../random.js';
import type { CodecPool as Pool } from './codec-pool.js';

const MiB = 1024 * 1024;
let pool: Pool;
beforeAll(async () => {
  // The built module: a worker thread loads JavaScript, and dist/ is what the kofn command runs.
  const { CodecPool } = (await import(new URL('../../dist/cli/codec-pool.js', import.meta.url).href)) as typeof import('./codec-pool.js');
  pool = new CodecPool(2);
});
afterAll(async () => {
  await pool?.close();
});

describe('CodecPool', () => {
  it('splits in workers what the main thread rebuilds, and rebuilds in workers what the main thread split, byte for byte', async () => {
    const fileId = newFileId();
    const opts = { k: 3, xs: [11, 22, 33, 44, 55], fileId, epoch: 0 };
    const macKey = newMacKey();
    const meta = { name: 'f.bin', size: 3 * MiB, type: 'application/octet-stream', chunkSize: MiB, chunkCount: 3, createdAt: 1, macKey: Uint8Array.from(macKey) };
    const main = await ShareEncoder.create({ ...opts, fileId: fileIdFromHex(fileId) }, Uint8Array.from(macKey));
    const metaShares = await main.encodeMetadata(meta);
    await pool.initEncoder(opts, macKey);
    const plain = [1, 2, 3].map(() => randomBytes(MiB));
    // Three chunks at once, each into lent buffers that come back as the share chunks' buffers.
    const encoded = await Promise.all(
      plain.map((p, j) => {
        const into = opts.xs.map(() => new Uint8Array(shareChunkLength(MiB)));
        return pool.encode(j + 1, j === 2, Uint8Array.from(p), into).then((r) => ({ ...r, into }));
      })
    );
    for (const e of encoded) {
      expect(e.data.every((b) => b === 0)).toBe(true); // the plaintext buffer comes back zeroed
      expect(e.into.every((b) => b.byteLength === 0)).toBe(true); // the lent buffers were moved, not copied
      expect(e.shares).toHaveLength(5);
    }
    const decoder = new ShareDecoder();
    await decoder.decodeMetadata(metaShares.slice(0, 3), { fileId: fileIdFromHex(fileId), epoch: 0, k: 3 });
    for (const [j, e] of encoded.entries()) {
      const d = await decoder.decodeData(e.shares.slice(2), { fileId: fileIdFromHex(fileId), index: j + 1, epoch: 0, k: 3 });
      expect(Buffer.from(d.data).equals(Buffer.from(plain[j]!))).toBe(true);
    }

    // And back: shares split here, rebuilt in the workers.
    await pool.initDecoder({ fileId, epoch: 0, k: 3 }, metaShares.slice(1, 4));
    const shares = await main.encodeData(1, false, Uint8Array.from(plain[0]!));
    const fresh = () => shares.map((s) => Uint8Array.from(s));
    const sent = fresh().slice(0, 4);
    const d = await pool.decode({ fileId, index: 1, epoch: 0, k: 3 }, sent);
    expect(Buffer.from(d.data).equals(Buffer.from(plain[0]!))).toBe(true);
    expect(d.bad).toEqual([]);
    // Shares with buffers of their own were moved to the worker, not copied.
    expect(sent.every((s) => s.byteLength === 0)).toBe(true);

    // A forged share among k + 1 is found and named by position; with k only it fails with its code.
    const forged = () => {
      const f = fresh();
      f[1]![200]! ^= 1;
      return f;
    };
    const healed = await pool.decode({ fileId, index: 1, epoch: 0, k: 3 }, forged().slice(0, 4));
    expect(healed.bad).toEqual([1]);
    await expect(pool.decode({ fileId, index: 1, epoch: 0, k: 3 }, forged().slice(0, 3))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  it('compact mode (issue #23): fragments made in workers rebuild on the main thread from any k, byte for byte, and the other way round', async () => {
    const fileId = newFileId();
    const opts = { k: 3, xs: [11, 22, 33, 44, 55], fileId, epoch: 0 };
    const key = newMacKey();
    const meta = { name: 'c.bin', size: 2 * MiB, type: '', chunkSize: MiB, chunkCount: 2, createdAt: 1, macKey: Uint8Array.from(key) };
    const main = await CompactEncoder.create({ ...opts, fileId: fileIdFromHex(fileId) }, Uint8Array.from(key));
    const metaShares = await main.encodeMetadata(meta);
    await pool.initEncoder({ ...opts, mode: 'compact' }, key);
    const plain = [randomBytes(MiB), randomBytes(MiB)];
    const encoded = await Promise.all(
      plain.map((p, j) =>
        pool.encode(
          j + 1,
          j === 1,
          Uint8Array.from(p),
          opts.xs.map(() => new Uint8Array(dataShareChunkLength('compact', MiB, 3)))
        )
      )
    );
    const decoder = new ShareDecoder();
    await decoder.decodeMetadata(metaShares.slice(2), { fileId: fileIdFromHex(fileId), epoch: 0, k: 3 });
    for (const [j, e] of encoded.entries()) {
      // About 1/k of the chunk on each relay: what compact mode is for.
      expect(e.shares.every((x) => x.length === dataShareChunkLength('compact', MiB, 3))).toBe(true);
      expect(e.shares[0]!.length).toBeLessThan(MiB / 2);
      // Any 3 of the 5: the last three are two coded fragments and one data fragment.
      const d = await decoder.decodeData([e.shares[4]!, e.shares[3]!, e.shares[1]!], { fileId: fileIdFromHex(fileId), index: j + 1, epoch: 0, k: 3 });
      expect(Buffer.from(d.data).equals(Buffer.from(plain[j]!))).toBe(true);
    }
    // Made on the main thread, rebuilt in a worker (its decoder learns the mode from the record).
    await pool.initDecoder({ fileId, epoch: 0, k: 3 }, metaShares.slice(0, 3));
    const shares = await main.encodeData(1, false, Uint8Array.from(plain[0]!));
    const d = await pool.decode({ fileId, index: 1, epoch: 0, k: 3 }, shares.slice(1, 4));
    expect(Buffer.from(d.data).equals(Buffer.from(plain[0]!))).toBe(true);
  });

  it('tree files (issue #21): sub-shares made in workers rebuild from K groups with k_g relays each, in workers too', async () => {
    const fileId = newFileId();
    const tree: TreeManifest = {
      kind: 'tree',
      k: 2,
      groups: [
        {
          kind: 'local',
          x: 1,
          k: 2,
          relays: [
            { relayId: 'a', x: 11 },
            { relayId: 'b', x: 12 },
            { relayId: 'c', x: 13 }
          ]
        },
        {
          kind: 'local',
          x: 2,
          k: 2,
          relays: [
            { relayId: 'd', x: 21 },
            { relayId: 'e', x: 22 }
          ]
        },
        {
          kind: 'local',
          x: 3,
          k: 2,
          relays: [
            { relayId: 'f', x: 31 },
            { relayId: 'g', x: 32 }
          ]
        }
      ]
    };
    const key = newMacKey();
    const meta = { name: 't.bin', size: MiB, type: '', chunkSize: MiB, chunkCount: 1, createdAt: 1, macKey: Uint8Array.from(key) };
    const main = await TreeEncoder.create({ tree, fileId: fileIdFromHex(fileId), epoch: 0 }, Uint8Array.from(key));
    const metaShares = await main.encodeMetadata(meta);
    await pool.initEncoder({ k: 2, xs: main.xs.slice(), fileId, epoch: 0, tree }, key);
    const plain = randomBytes(MiB);
    const e = await pool.encode(
      1,
      true,
      Uint8Array.from(plain),
      main.xs.map(() => new Uint8Array(shareChunkLength(MiB)))
    );
    expect(e.shares).toHaveLength(7);
    // Group 1 (relays b, c) and group 3 (f, g): K = 2 groups, k_g = 2 in each. Positions in treeRelays order.
    const pick = (all: Uint8Array[]) => [all[1]!, all[2]!, all[5]!, all[6]!];
    const decoder = new TreeDecoder();
    await decoder.decodeMetadata(pick(metaShares), { fileId: fileIdFromHex(fileId), epoch: 0, k: 2 });
    const d = await decoder.decodeData(pick(e.shares), { fileId: fileIdFromHex(fileId), index: 1, epoch: 0, k: 2 });
    expect(Buffer.from(d.data).equals(Buffer.from(plain))).toBe(true);
    // One group short (group 1 with one relay only): nothing is released.
    await expect(decoder.decodeData([e.shares[1]!, e.shares[5]!, e.shares[6]!], { fileId: fileIdFromHex(fileId), index: 1, epoch: 0, k: 2 })).rejects.toHaveProperty('code');
    // In a worker: its decoder sees version-3 share chunks and reads them as a tree.
    await pool.initDecoder({ fileId, epoch: 0, k: 2 }, pick(metaShares));
    const w = await pool.decode(
      { fileId, index: 1, epoch: 0, k: 2 },
      pick(e.shares).map((x) => Uint8Array.from(x))
    );
    expect(Buffer.from(w.data).equals(Buffer.from(plain))).toBe(true);
  });

  it('uses every core but the main thread, 1 to 3 workers, unless $KOFN_WORKERS says otherwise', async () => {
    const { workerCount } = await import('./codec-pool.js');
    expect([1, 2, 4, 16].map((cores) => workerCount({}, cores))).toEqual([1, 1, 3, 3]);
    expect(workerCount({ KOFN_WORKERS: '0' }, 8)).toBe(0);
    expect(workerCount({ KOFN_WORKERS: '5' }, 2)).toBe(5);
    expect(workerCount({ KOFN_WORKERS: 'lots' }, 2)).toBe(1);
  });
});
