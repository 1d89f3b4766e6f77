import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GET_RANDOM_VALUES_MAX, cryptoRandom, randomBase64url, randomBelow, randomBytes, randomHex, randomUuid } from './random.js';
import { seededSource, useRandomSource } from './testing.js';
import { split } from './shamir.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('cryptoRandom', () => {
  it('asks crypto.getRandomValues for at most 65,536 bytes a call and fills everything', () => {
    const spy = vi.spyOn(globalThis.crypto, 'getRandomValues');
    const out = new Uint8Array(3 * GET_RANDOM_VALUES_MAX + 5);
    cryptoRandom.fill(out);
    expect(spy.mock.calls.length).toBe(4);
    for (const [arg] of spy.mock.calls) expect((arg as Uint8Array).byteLength).toBeLessThanOrEqual(GET_RANDOM_VALUES_MAX);
    // The last 64 KiB block is not left zero (probability 2^-524288 for a real source).
    expect(out.subarray(-GET_RANDOM_VALUES_MAX).some((b) => b !== 0)).toBe(true);
  });

  it('is what split uses by default', () => {
    const spy = vi.spyOn(globalThis.crypto, 'getRandomValues');
    split(new Uint8Array(200_000), 3, [1, 2, 3]);
    expect(spy).toHaveBeenCalled();
  });
});

describe('seededSource', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = new Uint8Array(33);
    const b = new Uint8Array(33);
    const c = new Uint8Array(33);
    seededSource(7).fill(a);
    seededSource(7).fill(b);
    seededSource(8).fill(c);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('replaces the source only until restored', () => {
    const undo = useRandomSource(seededSource(1));
    const first = randomBytes(16);
    undo();
    const undo2 = useRandomSource(seededSource(1));
    expect(randomBytes(16)).toEqual(first);
    undo2();
    expect(randomBytes(16)).not.toEqual(first);
  });
});

describe('the repository', () => {
  // Handbook rule: randomness only from crypto.getRandomValues through src/random.ts.
  const root = join(import.meta.dirname, '..', '..');
  const sources: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (['node_modules', 'dist', 'build', '.svelte-kit', 'generated'].includes(e.name)) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|js|mjs|svelte)$/.test(e.name) && !e.name.endsWith('.test.ts')) sources.push(p);
    }
  };
  for (const pkg of ['shared', 'relay', 'web', 'e2e']) walk(join(root, pkg));

  it('has source files to check', () => {
    expect(sources.length).toBeGreaterThan(10);
  });

  it('never calls Math.random', () => {
    const offenders = sources.filter((p) => /Math\.random\s*\(/.test(readFileSync(p, 'utf8')));
    expect(offenders).toEqual([]);
  });

  // The product's own code (not its test data generators in *.test.ts, e2e/ and the benches) draws every
  // random byte, id and key through random.ts: no node:crypto/jose generators, no crypto.randomUUID.
  it('draws randomness in product code only through random.ts', () => {
    const product = sources.filter((p) => /[/\\](shared[/\\](src|bin)|relay[/\\]src|web[/\\](src|scripts))[/\\]/.test(p) && !p.endsWith(join('shared', 'src', 'random.ts')));
    expect(product.length).toBeGreaterThan(10);
    const generators = /\b(randomBytes|randomUUID|randomInt|randomFill|randomFillSync|generateKeyPair|generateKeyPairSync|generateKey|generateSecret)\b/;
    const offenders = product.filter((p) => {
      const text = readFileSync(p, 'utf8');
      const imported = [...text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'(node:crypto|crypto|jose)'/g)].some((m) => generators.test(m[1]!));
      return imported || /crypto\.(randomUUID|getRandomValues|subtle\.generateKey)\s*\(/.test(text);
    });
    expect(offenders).toEqual([]);
  });
});

describe('derived forms', () => {
  it('randomBelow stays in range and reaches every value', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = randomBelow(7);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(7);
      seen.add(v);
    }
    expect(seen.size).toBe(7);
    expect(randomBelow(1)).toBe(0);
    expect(() => randomBelow(0)).toThrow(RangeError);
    expect(() => randomBelow(1.5)).toThrow(RangeError);
  });

  it('randomBelow rejects draws at or above the largest multiple of n (no modulo bias)', () => {
    // 2^32 - 1 is above the last multiple of 3 below 2^32, so the first draw is refused and the second used.
    const draws = [Uint8Array.from([0xff, 0xff, 0xff, 0xff]), Uint8Array.from([0, 0, 0, 5])];
    const restore = useRandomSource({ fill: (out) => out.set(draws.shift()!) });
    try {
      expect(randomBelow(3)).toBe(2);
      expect(draws).toHaveLength(0);
    } finally {
      restore();
    }
  });

  it('randomUuid is an RFC 9562 version-4 UUID, randomHex and randomBase64url have the right length', () => {
    expect(randomUuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(randomUuid()).not.toBe(randomUuid());
    expect(randomHex(6)).toMatch(/^[0-9a-f]{12}$/);
    expect(randomBase64url(32)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const restore = useRandomSource({ fill: (out) => out.fill(0xfb) });
    try {
      expect(randomBase64url(3)).toBe('-_v7');
    } finally {
      restore();
    }
  });
});
