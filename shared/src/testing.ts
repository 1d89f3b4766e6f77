/**
 * `@kofn/shared/testing`: hooks for tests, kept out of the product's entry point (`@kofn/shared`) so that
 * no application code can reach them by accident: replacing the random source, and a deterministic
 * source for known-answer vectors (test/vectors/README.md).
 */
import type { RandomSource } from './random.js';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hasErrorCode } from './errors.js';

export { useRandomSource, type RandomSource } from './random.js';

/**
 * A deterministic, NOT cryptographic, source for known-answer vectors: xoshiro128** (Blackman & Vigna,
 * 2018) seeded through splitmix32. Documented in test/vectors/README.md so others can reproduce vectors.
 */
export function seededSource(seed: number): RandomSource {
  let z = seed >>> 0;
  const splitmix = (): number => {
    z = (z + 0x9e3779b9) >>> 0;
    let r = z;
    r = Math.imul(r ^ (r >>> 16), 0x85ebca6b) >>> 0;
    r = Math.imul(r ^ (r >>> 13), 0xc2b2ae35) >>> 0;
    return (r ^ (r >>> 16)) >>> 0;
  };
  const s = [splitmix(), splitmix(), splitmix(), splitmix()] as [number, number, number, number];
  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };
  return {
    fill(out: Uint8Array<ArrayBuffer>): void {
      for (let i = 0; i < out.length; i += 4) {
        const r = next();
        out[i] = r & 0xff;
        if (i + 1 < out.length) out[i + 1] = (r >>> 8) & 0xff;
        if (i + 2 < out.length) out[i + 2] = (r >>> 16) & 0xff;
        if (i + 3 < out.length) out[i + 3] = r >>> 24;
      }
    }
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export { parseScrape, type Scrape, type Sample } from './prometheus-text.js';

/** What `p` settles to, as a test compares it: 'ok', the stable error code, or the thrown value as text. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return hasErrorCode(err) ? err.code : String(err);
  }
}

/** The same for a synchronous call. */
export function thrownCode(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return hasErrorCode(err) ? err.code : String(err);
  }
}

/** An HTTP server on 127.0.0.1 at a free port, answering with `handler`; `close` cuts open connections. */
export async function startLoopbackServer(handler: RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    }
  };
}
