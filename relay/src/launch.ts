/**
 * How a relay process is started in production: the Node flags and environment every launcher gives it
 * (`npm start`'s web/scripts/stack.mjs, the benches; relay/Dockerfile repeats them, as a Dockerfile cannot
 * import this). One place, so that what the benches measure is the relay as it ships.
 */

/**
 * `--optimize-for-size`: V8 keeps a smaller young generation and grows the old one less eagerly, and its
 * memory reducer gives memory back sooner. A relay's live heap is small (~15 MB) but its requests make much
 * short-lived garbage; by default V8 let the old generation grow to ~75 MB before a full collection and kept
 * it committed, which put dealer relays over the 150 MB target in a 1 GiB renewal (148-156 MiB; 134-136 MiB
 * with the flag, the same renewal time; relay/src/bench/durability-bench.ts, issue #15). PUT and GET
 * throughput did not change measurably (npm run bench -w relay).
 */
export const RELAY_NODE_ARGS: readonly string[] = ['--optimize-for-size'];

/**
 * UV_THREADPOOL_SIZE: each upload's fsyncs hold one of libuv's pool threads (4 by default); 16 keep
 * concurrent uploads' writes from queueing behind them (npm run bench -w relay, issue #14).
 * MALLOC_MMAP_THRESHOLD_: glibc serves share-chunk buffers (128 KiB and up) with mmap and returns them to the
 * system when freed. Without it glibc raises its mmap threshold after the first free (mallopt(3), "dynamic
 * mmap threshold"), later chunk buffers come from the heap, and freed ones stay resident: a relay's peak RSS
 * during a renewal or repair was 20-30 MiB higher (issues #15, #16).
 * An operator's own value of either wins.
 */
export function relayEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return { UV_THREADPOOL_SIZE: env.UV_THREADPOOL_SIZE ?? '16', MALLOC_MMAP_THRESHOLD_: env.MALLOC_MMAP_THRESHOLD_ ?? '131072' };
}
