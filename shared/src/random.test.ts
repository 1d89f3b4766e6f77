import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GET_RANDOM_VALUES_MAX, cryptoRandom, randomBytes } from './random.js';
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
});
