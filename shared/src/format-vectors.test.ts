/**
 * Known-answer vectors for the share format (test/vectors/format.json): share chunks, metadata records
 * and GMAC tags made by test/format-reference.ts, a writer built only from shared/docs/format.md. The
 * product's encoder must reproduce every byte and its decoder must rebuild the data from any k shares.
 * Regenerate with KOFN_WRITE_VECTORS=1 only when the format changes on purpose.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ShareDecoder, ShareEncoder } from './codec.js';
import { encodeMetadata } from './metadata.js';
import { importMacKey, macTag, writeMacPrefix, MAC_PREFIX_BYTES } from './mac.js';
import { seededSource, useRandomSource } from './testing.js';
import { hex, unhex } from '../test/reference.js';
import { metadataRecord, shareChunks, fileSpecOf, type FileSpec } from '../test/format-reference.js';

interface Vector {
  name: string;
  seed: number;
  fileId: string;
  macKey: string;
  k: number;
  xs: number[];
  epoch: number;
  file: { name: string; type: string; createdAt: number; chunkSize: number; data: string };
  metadataRecord: string;
  tags: string[];
  /** chunks[index][j]: the share chunk relay j stores for that index. */
  chunks: string[][];
}

const file = join(import.meta.dirname, '..', 'test', 'vectors', 'format.json');
const CASES: Array<Omit<Vector, 'metadataRecord' | 'tags' | 'chunks'>> = [
  {
    name: 'empty file (2,3): only a metadata chunk, with FINAL',
    seed: 11,
    fileId: '00112233445566778899aabbccddeeff',
    macKey: '0f'.repeat(32),
    k: 2,
    xs: [17, 99, 200],
    epoch: 0,
    file: { name: 'empty.txt', type: 'text/plain', createdAt: 1_795_000_000_000, chunkSize: 16, data: '' }
  },
  {
    name: 'two data chunks (3,5), the last one short, epoch 7, a non-ASCII name',
    seed: 12,
    fileId: 'fedcba98765432100123456789abcdef',
    macKey: hex(Uint8Array.from({ length: 32 }, (_, i) => i * 7)),
    k: 3,
    xs: [5, 42, 77, 128, 255],
    epoch: 7,
    file: { name: 'résumé.pdf', type: 'application/pdf', createdAt: 1, chunkSize: 16, data: hex(new TextEncoder().encode('twenty bytes: k of n')) }
  }
];

const spec = (v: (typeof CASES)[number]): FileSpec => fileSpecOf(v, v.macKey);

function make(): Vector[] {
  return CASES.map((c) => {
    const source = seededSource(c.seed);
    const { tags, chunks } = shareChunks(spec(c), (len) => {
      const row = new Uint8Array(len);
      source.fill(row);
      return row;
    });
    return { ...c, metadataRecord: hex(metadataRecord(spec(c))), tags: tags.map(hex), chunks: chunks.map((c) => c.map(hex)) };
  });
}

if (process.env.KOFN_WRITE_VECTORS === '1') writeFileSync(file, JSON.stringify(make(), null, 2) + '\n');
const vectors = JSON.parse(readFileSync(file, 'utf8')) as Vector[];

describe('share-format known-answer vectors', () => {
  it('are what the reference writer makes from the format document', () => {
    expect(vectors).toEqual(make());
  });

  describe.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const s = spec(v);
    const count = v.chunks.length - 1;

    it('metadata record bytes (big-endian integers, UTF-8 text)', () => {
      const macKey = unhex(v.macKey) as Uint8Array<ArrayBuffer>;
      expect(hex(encodeMetadata({ name: s.name, type: s.type, size: s.data.length, chunkSize: s.chunkSize, chunkCount: count, createdAt: s.createdAt, macKey }))).toBe(v.metadataRecord);
    });

    it('GMAC tags bind file id, index and the whole flags byte', async () => {
      const key = await importMacKey(unhex(v.macKey) as Uint8Array<ArrayBuffer>);
      for (let i = 0; i <= count; i++) {
        const data = i === 0 ? unhex(v.metadataRecord) : s.data.subarray((i - 1) * s.chunkSize, i * s.chunkSize);
        const flags = (i === 0 ? 2 : 0) | (i === count ? 1 : 0);
        const buf = new Uint8Array(MAC_PREFIX_BYTES + data.length);
        writeMacPrefix(buf, s.fileId, i, flags);
        buf.set(data, MAC_PREFIX_BYTES);
        expect(hex(await macTag(key, i, flags, buf))).toBe(v.tags[i]);
      }
    });

    it('share chunks: the encoder reproduces every byte with the same randomness', async () => {
      const undo = useRandomSource(seededSource(v.seed));
      try {
        const enc = await ShareEncoder.create({ k: v.k, xs: v.xs, fileId: s.fileId, epoch: v.epoch }, unhex(v.macKey) as Uint8Array<ArrayBuffer>);
        const made = [await enc.encode(0, 2 | (count === 0 ? 1 : 0), unhex(v.metadataRecord))];
        for (let i = 1; i <= count; i++) made.push(await enc.encodeData(i, i === count, s.data.subarray((i - 1) * s.chunkSize, i * s.chunkSize)));
        expect(made.map((c) => c.map(hex))).toEqual(v.chunks);
      } finally {
        undo();
      }
    });

    it('any k of the stored share chunks rebuild the file', async () => {
      const dec = new ShareDecoder();
      const pick = (i: number) => v.chunks[i]!.slice(-v.k).map(unhex);
      const meta = await dec.decodeMetadata(pick(0), { fileId: s.fileId });
      expect(meta.meta).toMatchObject({ name: s.name, type: s.type, size: s.data.length, chunkCount: count });
      expect(meta.epoch).toBe(v.epoch);
      const parts: number[] = [];
      for (let i = 1; i <= count; i++) parts.push(...(await dec.decodeData(pick(i), { fileId: s.fileId, index: i, epoch: v.epoch, k: v.k })).data);
      expect(hex(Uint8Array.from(parts))).toBe(v.file.data);
    });
  });
});
