/**
 * Long loops on the page's main thread, cut into tasks short enough to keep input responsive (issue #18:
 * no input delay over 100 ms while a folder of 1,000 files is protected).
 */

/** How long a loop runs before it gives the main thread back (the RAIL model's 50 ms task budget, halved). */
const SLICE_MS = 25;

/** Gives the main thread back: input and rendering run before the caller resumes. */
export function yieldToMain(): Promise<void> {
  const s = (globalThis as { scheduler?: { yield?: () => Promise<void> } }).scheduler;
  if (typeof s?.yield === 'function') return s.yield();
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * The total size of `files`, read in slices. Chromium's File objects from a file or folder picker read
 * their size from the disk (a synchronous call to the browser process) the first time it is asked for:
 * summing 1,000 of them in one task took 578 ms of a CPU profile of `npm run bench:e2e`'s many-files run.
 */
export async function totalSize(files: readonly File[]): Promise<number> {
  let sum = 0;
  let since = performance.now();
  for (const f of files) {
    sum += f.size;
    if (performance.now() - since > SLICE_MS) {
      await yieldToMain();
      since = performance.now();
    }
  }
  return sum;
}
