/**
 * Slow, obviously-correct references used only by tests: bitwise GF(2^8) multiplication ("Russian
 * peasant", reducing by 0x11b) and per-byte polynomial evaluation for Shamir. They share no code with
 * src/gf256.ts or src/shamir.ts.
 */
export function mulRef(a: number, b: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) {
    if (b & 1) r ^= a;
    const hi = a & 0x80;
    a = (a << 1) & 0xff;
    if (hi) a ^= 0x1b;
    b >>= 1;
  }
  return r;
}

export function invRef(a: number): number {
  for (let b = 1; b < 256; b++) if (mulRef(a, b) === 1) return b;
  throw new Error('no inverse');
}

/**
 * Shamir split with the engine's randomness layout: the secret is taken in blocks of 65,536 bytes; for each
 * block, k-1 draws of the block's length, one per coefficient row; byte p of row i-1 is the degree-i
 * coefficient of byte p of that block.
 */
export function splitRef(secret: Uint8Array, k: number, xs: readonly number[], draw: (len: number) => Uint8Array): Uint8Array[] {
  const BLOCK = 65_536;
  const rows = Array.from({ length: k - 1 }, () => new Uint8Array(secret.length));
  for (let at = 0; at < secret.length; at += BLOCK) {
    const m = Math.min(BLOCK, secret.length - at);
    for (const row of rows) row.set(draw(m), at);
  }
  return xs.map((x) => {
    const y = new Uint8Array(secret.length);
    for (let p = 0; p < secret.length; p++) {
      let acc = secret[p]!;
      let xp = 1;
      for (let i = 1; i < k; i++) {
        xp = mulRef(xp, x);
        acc ^= mulRef(rows[i - 1]![p]!, xp);
      }
      y[p] = acc;
    }
    return y;
  });
}

export function combineRef(shares: Array<{ x: number; y: Uint8Array }>): Uint8Array {
  const out = new Uint8Array(shares[0]!.y.length);
  shares.forEach((sj, j) => {
    let num = 1;
    let den = 1;
    shares.forEach((sm, m) => {
      if (m === j) return;
      num = mulRef(num, sm.x);
      den = mulRef(den, sm.x ^ sj.x);
    });
    const l = mulRef(num, invRef(den));
    for (let p = 0; p < out.length; p++) out[p] = out[p]! ^ mulRef(sj.y[p]!, l);
  });
  return out;
}

/**
 * The value at `at` of the polynomial of degree below xs.length through (xs[j], ys[j]), one byte position,
 * by Lagrange's formula: the Reed-Solomon fragment at `at` of compact mode (docs/compact-mode.md).
 */
export function evalRef(xs: readonly number[], ys: readonly number[], at: number): number {
  let acc = 0;
  xs.forEach((xj, j) => {
    let num = 1;
    let den = 1;
    xs.forEach((xm, m) => {
      if (m === j) return;
      num = mulRef(num, at ^ xm);
      den = mulRef(den, xj ^ xm);
    });
    acc ^= mulRef(ys[j]!, mulRef(num, invRef(den)));
  });
  return acc;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
