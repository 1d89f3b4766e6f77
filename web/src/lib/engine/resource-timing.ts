/**
 * How long a fetch took on the network, read from the browser's Resource Timing entry for it (W3C Resource
 * Timing Level 2, PerformanceResourceTiming) instead of a clock around `await fetch()`. The clock also counts
 * the time the main thread was busy before it ran the continuation: a loopback ping read 13-117 ms that way on
 * a busy page (issue #17). The entry's times are taken by the network stack, whatever the main thread does.
 */

/** How long to wait for the entry after the response ended before falling back to the clock. */
export const ENTRY_WAIT_MS = 1000;

/** The fields of a PerformanceResourceTiming this reads (so tests can pass plain objects). */
export type TimingEntry = Pick<PerformanceResourceTiming, 'fetchStart' | 'requestStart' | 'responseEnd'>;

/**
 * The request's time on the network: from the request (requestStart) to the response's last byte
 * (responseEnd). A cross-origin response without Timing-Allow-Origin reports requestStart as 0 (Resource
 * Timing §4.4, "timing allow check"), so fetchStart, which is always exposed, starts it then.
 */
export function networkMs(e: TimingEntry): number {
  const start = e.requestStart > 0 ? e.requestStart : e.fetchStart;
  return Math.max(0, e.responseEnd - start);
}

/**
 * Fetches the absolute `url` (an empty answer: a body is cancelled unread), returning the response and its network time. The entry is taken from a
 * PerformanceObserver started before the request, so it is seen even when the timeline buffer is full (250
 * entries by default: a page pinging every 10 s fills it within minutes). Without an entry within
 * ENTRY_WAIT_MS, or without the API, the clock around the fetch is the fallback.
 */
export async function timedFetch(url: string, init?: RequestInit): Promise<{ res: Response; ms: number; source: 'resource-timing' | 'clock' }> {
  // Entries are named by the absolute, normalised URL; relay URLs are absolute.
  const name = new URL(url).href;
  const t0 = performance.now();
  let entry: TimingEntry | undefined;
  let found: (() => void) | undefined;
  const observer =
    typeof PerformanceObserver === 'function'
      ? new PerformanceObserver((list) => {
          for (const e of list.getEntriesByName(name, 'resource')) {
            // Only this request's entry: one that started after this call did (pings of a relay run one at a time).
            if (entry === undefined && e.startTime >= t0) {
              entry = e as PerformanceResourceTiming;
              found?.();
            }
          }
        })
      : undefined;
  observer?.observe({ type: 'resource' });
  try {
    const res = await fetch(url, init);
    // The entry is recorded when the response's body ends. This is for empty answers (a ping's 204 has no
    // body): any body another party sends is cancelled unread, never buffered.
    await res.body?.cancel();
    const clock = performance.now() - t0;
    if (entry === undefined && observer) {
      await new Promise<void>((resolve) => {
        found = resolve;
        setTimeout(resolve, ENTRY_WAIT_MS);
      });
    }
    return entry === undefined ? { res, ms: clock, source: 'clock' } : { res, ms: networkMs(entry), source: 'resource-timing' };
  } finally {
    observer?.disconnect();
  }
}
