/** Timing helpers shared by the Node and browser benchmarks (environment-agnostic). */

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Median throughput in MB/s (10^6 bytes per second) of `fn` processing `bytes` per call, over `runs`
 * runs; each run repeats the call until at least `minMs` passed, so short calls are not timer noise.
 */
export async function throughput(bytes: number, fn: () => unknown, runs = 5, minMs = 60): Promise<number> {
  await fn(); // warm-up: JIT, WASM tier-up, workspace growth
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    let calls = 0;
    const t0 = performance.now();
    let t: number;
    do {
      await fn();
      calls++;
      t = performance.now();
    } while (t - t0 < minMs);
    rates.push((bytes * calls) / 1e6 / ((t - t0) / 1000));
  }
  return median(rates);
}
