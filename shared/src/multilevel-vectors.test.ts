/**
 * Known-answer vectors for tree files (test/vectors/format-multilevel.json), made by the reference writer
 * treeShareChunks in test/format-reference.ts from docs/format.md and docs/multilevel.md alone (node:crypto
 * GMAC, the bitwise Shamir reference). The product's TreeEncoder must reproduce every byte with the same
 * randomness, and its TreeDecoder rebuild each file from K groups with k_g share chunks each (the last
 * ones); version-1 files (format.json) still read with the same retrieve stream.
 * Regenerate with KOFN_WRITE_VECTORS=1 only when the format changes on purpose.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TreeDecoder, TreeEncoder } from './multilevel.js';
import { createRetrieveStream } from './streams.js';
import { seededSource, useRandomSource } from './testing.js';
import type { TreeManifest } from './layout.js';
import { hex, unhex } from '../test/reference.js';
import { treeShareChunks, type TreeSpec } from '../test/format-reference.js';

interface Case {
  name: string;
  seed: number;
  fileId: string;
  macKey: string;
  K: number;
  groups: Array<{ x: number; k: number; xs: number[] }>;
  epoch: number;
  file: { name: string; type: string; createdAt: number; chunkSize: number; data: string };
}
interface Vector extends Case {
  tags: string[];
  /** chunks[index]: share chunks in tree order (group by group, each group's relays in order). */
  chunks: string[][];
}

const file = join(import.meta.dirname, '..', 'test', 'vectors', 'format-multilevel.json');
const CASES: Case[] = [
  {
    name: 'empty tree file: 2 of 2 groups, each 2 of 2; only the metadata chunk, FINAL',
    seed: 31,
    fileId: '00112233445566778899aabbccddeeff',
    macKey: '2e'.repeat(32),
    K: 2,
    groups: [
      { x: 7, k: 2, xs: [11, 12] },
      { x: 200, k: 2, xs: [13, 250] }
    ],
    epoch: 0,
    file: { name: 'empty.txt', type: 'text/plain', createdAt: 1_795_000_000_000, chunkSize: 16, data: '' }
  },
  {
    name: 'two data chunks, 2 of 3 groups (2 of 3, 3 of 4, 2 of 2), epoch 5, a non-ASCII name',
    seed: 32,
    fileId: 'fedcba98765432100123456789abcdef',
    macKey: hex(Uint8Array.from({ length: 32 }, (_, i) => (i * 13 + 5) & 0xff)),
    K: 2,
    groups: [
      { x: 3, k: 2, xs: [40, 41, 42] },
      { x: 99, k: 3, xs: [5, 77, 128, 255] },
      { x: 145, k: 2, xs: [1, 2] }
    ],
    epoch: 5,
    file: { name: 'größe.bin', type: 'application/octet-stream', createdAt: 1, chunkSize: 16, data: hex(new TextEncoder().encode('twenty bytes: k of n')) }
  }
];

const spec = (c: Case): TreeSpec => ({ fileId: unhex(c.fileId), macKey: unhex(c.macKey), K: c.K, groups: c.groups, epoch: c.epoch, ...c.file, data: unhex(c.file.data) });
const treeOf = (c: Case): TreeManifest => ({ kind: 'tree', k: c.K, groups: c.groups.map((g) => ({ kind: 'local', x: g.x, k: g.k, relays: g.xs.map((x) => ({ relayId: `relay-${x}`, x })) })) });

function make(): Vector[] {
  return CASES.map((c) => {
    const source = seededSource(c.seed);
    const { tags, chunks } = treeShareChunks(spec(c), (len) => {
      const row = new Uint8Array(len);
      source.fill(row);
      return row;
    });
    return { ...c, tags: tags.map(hex), chunks: chunks.map((x) => x.map(hex)) };
  });
}

if (process.env.KOFN_WRITE_VECTORS === '1') writeFileSync(file, JSON.stringify(make(), null, 2) + '\n');
const vectors = JSON.parse(readFileSync(file, 'utf8')) as Vector[];

describe('tree-format known-answer vectors', () => {
  it('are what the reference writer makes from the format documents', () => {
    expect(vectors).toEqual(make());
  });

  describe.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const s = spec(v);
    const count = v.chunks.length - 1;
    const macKey = unhex(v.macKey) as Uint8Array<ArrayBuffer>;

    it('share chunks: the encoder reproduces every byte with the same randomness, all with version-3 headers', async () => {
      const undo = useRandomSource(seededSource(v.seed));
      try {
        const enc = await TreeEncoder.create({ tree: treeOf(v), fileId: s.fileId, epoch: v.epoch }, macKey);
        const made = [await enc.encodeMetadata({ name: s.name, type: s.type, size: s.data.length, chunkSize: s.chunkSize, chunkCount: count, createdAt: s.createdAt, macKey })];
        for (let i = 1; i <= count; i++) made.push(await enc.encodeData(i, i === count, s.data.subarray((i - 1) * s.chunkSize, i * s.chunkSize)));
        expect(made.map((c) => c.map(hex))).toEqual(v.chunks);
        for (const c of made) for (const share of c) expect(share[4]).toBe(3);
      } finally {
        undo();
      }
    });

    it('the last K groups, with their last k_g share chunks each, rebuild the file', async () => {
      const dec = new TreeDecoder();
      const positions: number[] = [];
      let at = 0;
      v.groups.forEach((g, gi) => {
        if (gi >= v.groups.length - v.K) for (let j = g.xs.length - g.k; j < g.xs.length; j++) positions.push(at + j);
        at += g.xs.length;
      });
      const pick = (i: number) => positions.map((p) => unhex(v.chunks[i]![p]!));
      const meta = await dec.decodeMetadata(pick(0), { fileId: s.fileId });
      expect(meta.meta).toMatchObject({ name: s.name, type: s.type, size: s.data.length, chunkCount: count });
      expect(meta.epoch).toBe(v.epoch);
      const parts: number[] = [];
      for (let i = 1; i <= count; i++) parts.push(...(await dec.decodeData(pick(i), { fileId: s.fileId, index: i, epoch: v.epoch, k: v.K })).data);
      expect(hex(Uint8Array.from(parts))).toBe(v.file.data);
    });
  });
});

describe('interoperability: version-1 files still read after tree files exist', () => {
  const v1 = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'test', 'vectors', 'format.json'), 'utf8')) as Array<{ fileId: string; k: number; chunks: string[][]; file: { data: string } }>;

  it('one retrieve stream, no option: chunk 0 says whether a file is flat or a tree', async () => {
    const tree = vectors[1]!;
    const treeShares = (i: number) => [...tree.chunks[i]!.slice(0, 2), ...tree.chunks[i]!.slice(3, 6)].map(unhex);
    for (const [v, shares] of [
      [v1[1]!, (i: number) => v1[1]!.chunks[i]!.slice(0, v1[1]!.k).map(unhex)],
      [tree, treeShares]
    ] as const) {
      const r = createRetrieveStream({ fileId: unhex(v.fileId) });
      const w = r.writable.getWriter();
      const writing = (async () => {
        for (let i = 0; i < v.chunks.length; i++) await w.write({ index: i, shares: shares(i) });
        await w.close();
      })();
      const parts: number[] = [];
      for await (const c of r.readable) parts.push(...c);
      await writing;
      expect(hex(Uint8Array.from(parts))).toBe(v.file.data);
    }
  });
});
