/** The test hooks live behind `@kofn/shared/testing` only (issue #14): the product's entry point has none. */
import { describe, expect, it } from 'vitest';
import * as main from './index.js';
import { randomBytes } from './random.js';
import { codeOf, seededSource, thrownCode, useRandomSource } from './testing.js';
import { KofnError } from './errors.js';

describe('@kofn/shared/testing', () => {
  it('the main entry point exports no test hook', () => {
    for (const hook of ['useRandomSource', 'seededSource', 'cryptoRandom', 'randomFill']) expect(Object.keys(main)).not.toContain(hook);
  });

  it('is a package export that resolves (built) to the same hooks', async () => {
    const pkg = (await import('../package.json', { with: { type: 'json' } })).default as { exports: Record<string, { default: string; types: string }> };
    expect(pkg.exports['./testing']).toEqual({ types: './dist/testing.d.ts', default: './dist/testing.js' });
    const built = (await import('@kofn/shared/testing')) as Record<string, unknown>;
    expect(typeof built.useRandomSource).toBe('function');
    expect(typeof built.seededSource).toBe('function');
  });

  it('useRandomSource replaces the source until restored', () => {
    const expected = new Uint8Array(40);
    seededSource(3).fill(expected);
    const undo = useRandomSource(seededSource(3));
    try {
      expect(randomBytes(40)).toEqual(expected);
    } finally {
      undo();
    }
    expect(randomBytes(40)).not.toEqual(expected);
  });
});

describe('codeOf and thrownCode', () => {
  it("give 'ok', the stable code, or the thrown value as text", async () => {
    expect(await codeOf(Promise.resolve(1))).toBe('ok');
    expect(await codeOf(Promise.reject(new KofnError('NOT_FOUND', 'x')))).toBe('NOT_FOUND');
    expect(await codeOf(Promise.reject(new Error('plain')))).toBe('Error: plain');
    expect(thrownCode(() => 1)).toBe('ok');
    expect(
      thrownCode(() => {
        throw new KofnError('EPOCH_GONE', 'x');
      })
    ).toBe('EPOCH_GONE');
  });
});
