/**
 * Live round-trip times from this browser to each storage server (issue #17, "Storage servers: ping and
 * status refresh live"). A round every PING_EVERY_MS while the page is visible, one at once when it becomes
 * visible again, none while it is hidden (Page Visibility API: a background tab costs the relays nothing).
 * The relay's /v1/ping is public, tokenless, an empty 204, and CORS-granted to the app's origin only
 * (relay/src/app.ts), so it tells the relay nothing about the user and the page nothing but the time.
 */
import { ping } from '$lib/engine/relay-http';

export const PING_EVERY_MS = 10_000;

export interface PingTarget {
  id: string;
  host: string;
}

export class LivePings {
  /** ms per relay id; Infinity when it did not answer; absent before its first round. */
  times = $state<Record<string, number>>({});

  /**
   * Pings `relays()` (read each round, so a refreshed list is followed) until the returned stop is called.
   * `onflip` runs after a round in which a relay started or stopped answering, so the page can refresh the
   * coordinator's view of it too.
   */
  start(relays: () => PingTarget[], onflip?: () => void): () => void {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    // Read through a function: TypeScript narrows a plain read after the early return to `false` for good,
    // though stop() may set it while a round awaits its pings.
    const isStopped = () => stopped;
    let running = false;
    const round = async () => {
      if (running || stopped || document.visibilityState !== 'visible') return;
      running = true;
      try {
        const results = await Promise.all(relays().map(async (r) => [r.id, await ping(r.host)] as const));
        let flipped = false;
        for (const [id, ms] of results) {
          const before = this.times[id];
          if (before !== undefined && Number.isFinite(before) !== Number.isFinite(ms)) flipped = true;
          this.times[id] = ms;
        }
        // A page left meanwhile is not refreshed.
        if (flipped && !isStopped()) onflip?.();
      } finally {
        running = false;
      }
    };
    const schedule = () => {
      timer = setTimeout(() => void round().finally(() => isStopped() || schedule()), PING_EVERY_MS);
    };
    const onVisibility = () => void round();
    document.addEventListener('visibilitychange', onVisibility);
    void round().finally(schedule);
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }
}
