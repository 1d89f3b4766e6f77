/**
 * Chunk-sized buffers shared by the relay's renewal and repair requests (#15, #16: relay peak RSS). A request
 * takes the buffers it works in and gives them back, wiped, when it ends, so the 64 range requests of each
 * phase of a 1 GiB renewal allocate their scratch about once instead of once per request.
 *
 * Why: a buffer a request drops is freed only at V8's next collection, which external memory (Buffers)
 * brings on late; until then it stays resident. In the durability bench each phase started from the RSS the
 * one before had left, and the relays' peaks crept up with the file's size (relay/src/bench/durability-bench.ts).
 *
 * What is kept is bounded (MAX_FREE buffers, MAX_FREE_BYTES in all): past that a buffer given back is dropped,
 * so a burst does not pin its peak for ever. Every buffer is wiped when given back: scratch holds shares,
 * contributions and updates, and the next taker (another file's request) must not find them.
 */

/** Free buffers kept for reuse at most. */
const MAX_FREE = 16;
/** Bytes kept in free buffers at most (16 chunks of 1 MiB and change). */
const MAX_FREE_BYTES = 24 * 1024 * 1024;

const free: Buffer[] = [];
let freeBytes = 0;

/**
 * A buffer of at least `size` bytes, contents unspecified (zero, or never written: the caller fills what it
 * reads). The smallest free one that fits, since chunk sizes differ by file and a file's last chunk is short.
 */
export function takeScratch(size: number): Buffer {
  let best = -1;
  for (let i = 0; i < free.length; i++) if (free[i]!.length >= size && (best < 0 || free[i]!.length < free[best]!.length)) best = i;
  const buf = best < 0 ? undefined : free.splice(best, 1)[0];
  if (!buf) return Buffer.allocUnsafeSlow(size);
  freeBytes -= buf.length;
  return buf;
}

/**
 * Gives a buffer back once nothing refers to it any more (a send settled, a write done); it is wiped here.
 * Giving one back twice would hand it to two requests at once: refused loudly (a bug, never a client's doing).
 */
export function giveScratch(buf: Buffer): void {
  if (free.includes(buf)) throw new Error('scratch-pool: a buffer was given back twice');
  buf.fill(0);
  if (free.length >= MAX_FREE || freeBytes + buf.length > MAX_FREE_BYTES) return;
  free.push(buf);
  freeBytes += buf.length;
}

/** Free buffers and their bytes (tests). */
export function scratchPoolSize(): { buffers: number; bytes: number } {
  return { buffers: free.length, bytes: freeBytes };
}
