/**
 * Known-answer vectors (test/vectors/shamir.json, made by the bitwise reference, see
 * test/vectors/README.md). Regenerate with KOFN_WRITE_VECTORS=1 only when the format changes on purpose.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ShamirEngine } from './shamir.js';
import { seededSource, useRandomSource } from './testing.js';
import { hex, splitRef, unhex } from '../test/reference.js';

interface Vector {
  name: string;
  seed: number;
  k: number;
  xs: number[];
  secret: string;
  shares: string[];
}

const file = join(import.meta.dirname, '..', 'test', 'vectors', 'shamir.json');

const CASES: Array<Omit<Vector, 'shares'>> = [
  { name: 'empty secret (2,3)', seed: 1, k: 2, xs: [1, 2, 3], secret: '' },
  { name: 'one byte (2,2)', seed: 2, k: 2, xs: [1, 255], secret: '00' },
  { name: 'ascii (3,5)', seed: 3, k: 3, xs: [1, 2, 3, 4, 5], secret: hex(new TextEncoder().encode('kofn: k of n')) },
  { name: '17 bytes crossing a 16-byte lane (5,10)', seed: 4, k: 5, xs: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100], secret: 'ff'.repeat(17) },
  { name: 'all byte values (2,3) high x', seed: 5, k: 2, xs: [253, 254, 255], secret: hex(Uint8Array.from({ length: 256 }, (_, i) => i)) }
];

function makeVectors(): Vector[] {
  return CASES.map((c) => {
    const secret = unhex(c.secret);
    const source = seededSource(c.seed);
    const draw = (len: number): Uint8Array => {
      const row = new Uint8Array(len);
      source.fill(row);
      return row;
    };
    return { ...c, shares: splitRef(secret, c.k, c.xs, draw).map(hex) };
  });
}

if (process.env.KOFN_WRITE_VECTORS === '1') writeFileSync(file, JSON.stringify(makeVectors(), null, 2) + '\n');
const vectors = JSON.parse(readFileSync(file, 'utf8')) as Vector[];

describe('known-answer vectors', () => {
  it('cover every case', () => {
    expect(vectors.map((v) => v.name)).toEqual(CASES.map((c) => c.name));
  });

  describe.each(['wasm-simd', 'js'] as const)('%s kernel', (kind) => {
    it.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
      const undo = useRandomSource(seededSource(v.seed));
      try {
        const engine = new ShamirEngine(kind);
        expect(engine.split(unhex(v.secret), v.k, v.xs).map(hex)).toEqual(v.shares);
        const some = v.shares.slice(-v.k).map((s, i) => ({ x: v.xs[v.xs.length - v.k + i]!, y: unhex(s) }));
        expect(hex(engine.combine(some))).toBe(v.secret);
      } finally {
        undo();
      }
    });
  });
});
