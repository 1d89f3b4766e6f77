/**
 * Header rewriting for remote groups (remote-chunks.ts): a tree share chunk becomes the other deployment's
 * flat (version-1) chunk of its sub-file and back, body untouched, and the round trip decodes as a tree; a
 * chunk from X that is not exactly of that sub-file and epoch is left as it came, so the decoder refuses it.
 */
import { describe, expect, it } from 'vitest';
import { FORMAT_VERSION, FORMAT_VERSION_TREE, HEADER_BYTES, TreeDecoder, TreeEncoder, fileIdFromHex, newFileId, newMacKey, parseHeader, randomBytes, type TreeManifest } from '@kofn/shared';
import { fromRemoteChunk, toRemoteChunk, type RemoteChunkTarget } from './remote-chunks';

const home = newFileId();
const sub = newFileId();
// Group 2's relay x's repeat group 1's: a remote group's x's are drawn by its own coordinator.
const tree: TreeManifest = {
  kind: 'tree',
  k: 2,
  groups: [
    { kind: 'local', x: 9, k: 2, relays: [1, 2, 3].map((x) => ({ relayId: `h${x}`, x })) },
    { kind: 'local', x: 40, k: 2, relays: [1, 2, 3].map((x) => ({ relayId: `x${x}`, x })) }
  ]
};
const target: RemoteChunkTarget = { fileId: sub, epoch: 0, groupX: 40, groupK: 2 };

async function encoded(data: Uint8Array) {
  const enc = await TreeEncoder.create({ tree, fileId: fileIdFromHex(home), epoch: 0 }, newMacKey());
  const meta = await enc.encodeMetadata({ name: 'a.bin', size: data.length, type: 'application/octet-stream', chunkSize: 1 << 20, chunkCount: 1, createdAt: 1, macKey: newMacKey() });
  return { enc, meta };
}

describe('remote group share chunks', () => {
  it('become a version-1 chunk of the sub-file and back, body untouched; the round trip decodes', async () => {
    const data = randomBytes(5000);
    const macKey = newMacKey();
    const enc = await TreeEncoder.create({ tree, fileId: fileIdFromHex(home), epoch: 0 }, macKey);
    const meta = await enc.encodeMetadata({ name: 'a.bin', size: data.length, type: 'application/octet-stream', chunkSize: 1 << 20, chunkCount: 1, createdAt: 1, macKey });
    const chunk = await enc.encodeData(1, true, data);
    for (const shares of [meta, chunk]) {
      for (const s of shares.slice(3)) {
        const body = s.slice(HEADER_BYTES);
        toRemoteChunk(s, target);
        const h = parseHeader(s);
        expect([s[4], h.group, Buffer.from(h.fileId).toString('hex'), h.epoch]).toEqual([FORMAT_VERSION, undefined, sub, 0]);
        expect(s.slice(HEADER_BYTES)).toEqual(body);
        fromRemoteChunk(s, target, { fileId: fileIdFromHex(home), epoch: 0 });
        expect(s[4]).toBe(FORMAT_VERSION_TREE);
      }
    }
    // Group 1's relay 1 and group 2's relays 2 and 3 (x 2, 3): K groups with k_g each.
    const dec = new TreeDecoder();
    const expected = { fileId: fileIdFromHex(home), epoch: 0, k: 2 };
    await dec.decodeMetadata([meta[0]!, meta[1]!, meta[4]!, meta[5]!], expected);
    const out = await dec.decodeData([chunk[0]!, chunk[1]!, chunk[4]!, chunk[5]!], { ...expected, index: 1 });
    expect(Buffer.from(out.data).equals(Buffer.from(data))).toBe(true);
  });

  it('a chunk of another sub-file or epoch, or already a tree chunk, is left as it came', async () => {
    const { meta } = await encoded(randomBytes(10));
    const s = meta[4]!;
    toRemoteChunk(s, target);
    for (const other of [
      { ...target, fileId: newFileId() },
      { ...target, epoch: 1 }
    ]) {
      const copy = s.slice();
      fromRemoteChunk(copy, other, { fileId: fileIdFromHex(home), epoch: 0 });
      expect(copy).toEqual(s);
    }
    const tree3 = meta[0]!.slice();
    fromRemoteChunk(tree3, target, { fileId: fileIdFromHex(home), epoch: 0 });
    expect(tree3).toEqual(meta[0]);
    expect(() => toRemoteChunk(s, target)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });
});
