/**
 * Known-answer vectors for compact files (test/vectors/format-compact.json), made by the reference writer
 * in test/format-reference.ts from docs/format.md and docs/compact-mode.md alone (node:crypto AES-256-GCM,
 * bitwise GF(2^8) Lagrange evaluation). The product's encoder must reproduce every byte, and its decoder
 * rebuild the data from any k share chunks, parity-only ones included. Interoperability: the version-1
 * vectors (format.json, unchanged) decode with the same decoder in the same run.
 * Regenerate with KOFN_WRITE_VECTORS=1 only when the format changes on purpose.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ShareDecoder } from './codec.js';
import { CompactEncoder } from './compact.js';
import { encodeMetadata } from './metadata.js';
import { createRetrieveStream } from './streams.js';
import { seededSource, useRandomSource } from './testing.js';
import { hex, unhex } from '../test/reference.js';
import { compactMetadataRecord, compactShareChunks, fileSpecOf, type FileSpec } from '../test/format-reference.js';

interface Vector {
  name: string;
  seed: number;
  fileId: string;
  /** The file key: GMAC key of chunk 0 and AES-256-GCM key of the data chunks. */
  fileKey: string;
  k: number;
  xs: number[];
  epoch: number;
  file: { name: string; type: string; createdAt: number; chunkSize: number; data: string };
  metadataRecord: string;
  metadataTag: string;
  /** sealed[i-1]: data chunk i's ciphertext || GCM tag. */
  sealed: string[];
  /** chunks[index][j]: the share chunk relay j stores for that index. */
  chunks: string[][];
}

const file = join(import.meta.dirname, '..', 'test', 'vectors', 'format-compact.json');
const CASES: Array<Omit<Vector, 'metadataRecord' | 'metadataTag' | 'sealed' | 'chunks'>> = [
  {
    name: 'empty compact file (2,3): only the metadata chunk, version 2 header, FINAL',
    seed: 21,
    fileId: '00112233445566778899aabbccddeeff',
    fileKey: '1f'.repeat(32),
    k: 2,
    xs: [17, 99, 200],
    epoch: 0,
    file: { name: 'empty.txt', type: 'text/plain', createdAt: 1_795_000_000_000, chunkSize: 16, data: '' }
  },
  {
    name: 'two data chunks (3,5), the last short with one padding byte, epoch 7, a non-ASCII name',
    seed: 22,
    fileId: 'fedcba98765432100123456789abcdef',
    fileKey: hex(Uint8Array.from({ length: 32 }, (_, i) => (i * 11 + 3) & 0xff)),
    k: 3,
    xs: [5, 42, 77, 128, 255],
    epoch: 7,
    // 16 + 16 = 32 bytes -> pieces of 11, padding 1; 4 + 16 = 20 -> pieces of 7, padding 1.
    file: { name: 'résumé.pdf', type: 'application/pdf', createdAt: 1, chunkSize: 16, data: hex(new TextEncoder().encode('twenty bytes: k of n')) }
  },
  {
    name: 'one data chunk (2,2): no parity fragment at all',
    seed: 23,
    fileId: '0f0e0d0c0b0a09080706050403020100',
    fileKey: 'a5'.repeat(32),
    k: 2,
    xs: [1, 2],
    epoch: 1,
    file: { name: 'x', type: '', createdAt: 1_700_000_000_000, chunkSize: 64, data: hex(new TextEncoder().encode('seven b')) }
  }
];

const spec = (v: (typeof CASES)[number]): FileSpec => fileSpecOf(v, v.fileKey);

function make(): Vector[] {
  return CASES.map((c) => {
    const source = seededSource(c.seed);
    const { tag, sealed, chunks } = compactShareChunks(spec(c), (len) => {
      const row = new Uint8Array(len);
      source.fill(row);
      return row;
    });
    return { ...c, metadataRecord: hex(compactMetadataRecord(spec(c))), metadataTag: hex(tag), sealed: sealed.map(hex), chunks: chunks.map((x) => x.map(hex)) };
  });
}

if (process.env.KOFN_WRITE_VECTORS === '1') writeFileSync(file, JSON.stringify(make(), null, 2) + '\n');
const vectors = JSON.parse(readFileSync(file, 'utf8')) as Vector[];

describe('compact-format known-answer vectors', () => {
  it('are what the reference writer makes from the format documents', () => {
    expect(vectors).toEqual(make());
  });

  describe.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const s = spec(v);
    const count = v.chunks.length - 1;
    const fileKey = unhex(v.fileKey) as Uint8Array<ArrayBuffer>;

    it('metadata record version 2 bytes', () => {
      expect(
        hex(
          encodeMetadata({
            name: s.name,
            type: s.type,
            size: s.data.length,
            chunkSize: s.chunkSize,
            chunkCount: count,
            createdAt: s.createdAt,
            macKey: fileKey,
            compact: { dataXs: v.xs.slice(0, v.k) }
          })
        )
      ).toBe(v.metadataRecord);
    });

    it('share chunks: the encoder reproduces every byte with the same randomness', async () => {
      const undo = useRandomSource(seededSource(v.seed));
      try {
        const enc = await CompactEncoder.create({ k: v.k, xs: v.xs, fileId: s.fileId, epoch: v.epoch }, fileKey);
        const made = [await enc.encodeMetadata({ name: s.name, type: s.type, size: s.data.length, chunkSize: s.chunkSize, chunkCount: count, createdAt: s.createdAt, macKey: fileKey })];
        for (let i = 1; i <= count; i++) made.push(await enc.encodeData(i, i === count, s.data.subarray((i - 1) * s.chunkSize, i * s.chunkSize)));
        expect(made.map((c) => c.map(hex))).toEqual(v.chunks);
      } finally {
        undo();
      }
    });

    it('the last k stored share chunks (parity first) rebuild the file', async () => {
      const dec = new ShareDecoder();
      const pick = (i: number) => v.chunks[i]!.slice(-v.k).map(unhex);
      const meta = await dec.decodeMetadata(pick(0), { fileId: s.fileId });
      expect(meta.meta).toMatchObject({ name: s.name, type: s.type, size: s.data.length, chunkCount: count, compact: { dataXs: v.xs.slice(0, v.k) } });
      expect(meta.epoch).toBe(v.epoch);
      const parts: number[] = [];
      for (let i = 1; i <= count; i++) parts.push(...(await dec.decodeData(pick(i), { fileId: s.fileId, index: i, epoch: v.epoch, k: v.k })).data);
      expect(hex(Uint8Array.from(parts))).toBe(v.file.data);
    });
  });
});

describe('interoperability: version-1 (Shamir) files still decode after the format change', () => {
  const v1 = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'test', 'vectors', 'format.json'), 'utf8')) as Array<{ fileId: string; k: number; chunks: string[][]; file: { data: string } }>;

  it('format.json is still all version-1 headers, and one decoder reads v1 and v2 files alike', async () => {
    const dec = new ShareDecoder();
    const files = [...v1.map((v) => [1, v] as const), ...vectors.map((v) => [2, v] as const)];
    for (const [version, v] of files) {
      const fileId = unhex(v.fileId);
      for (const chunk of v.chunks) for (const share of chunk) expect(unhex(share)[4]).toBe(version);
      await dec.decodeMetadata(v.chunks[0]!.slice(0, v.k).map(unhex), { fileId });
      const parts: number[] = [];
      for (let i = 1; i < v.chunks.length; i++) parts.push(...(await dec.decodeData(v.chunks[i]!.slice(0, v.k).map(unhex), { fileId, index: i })).data);
      expect(hex(Uint8Array.from(parts))).toBe(v.file.data);
    }
  });

  it('the retrieve stream needs no mode option: chunk 0 says which mode a file is in', async () => {
    for (const v of [v1[1]!, vectors[1]!]) {
      const r = createRetrieveStream({ fileId: unhex(v.fileId) });
      const w = r.writable.getWriter();
      const writing = (async () => {
        for (let i = 0; i < v.chunks.length; i++) await w.write({ index: i, shares: v.chunks[i]!.slice(1, 1 + v.k).map(unhex) });
        await w.close();
      })();
      const parts: number[] = [];
      for await (const c of r.readable) parts.push(...c);
      await writing;
      expect(hex(Uint8Array.from(parts))).toBe(v.file.data);
    }
  });
});
