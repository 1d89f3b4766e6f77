/**
 * Passes on the latest of many values at most once every `ms`: the first at once, later ones at the end
 * of each period (the last is never dropped). Why: a transfer reports progress for every chunk, tens of
 * times a second, and each report re-rendered its row (Svelte flush, layout, paint): measured with a
 * DevTools profile of bench:e2e's page, about 0.5 CPU-seconds of the page's main thread per 256 MiB,
 * plus the compositor's and GPU process's share, on a machine where every CPU-second slows the transfer.
 */
/** Functions, not methods: they use no `this`, so they can be passed on alone (`onProgress: c.push`). */
export interface Coalesced<T> {
  push: (value: T) => void;
  /** Passes on the value still waiting for its period, now (when the transfer ends, say). */
  flush: () => void;
}

export function coalesce<T>(fn: (value: T) => void, ms: number): Coalesced<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pending: { value: T } | undefined;
  let last = -Infinity;
  const fire = () => {
    timer = undefined;
    if (!pending) return;
    const { value } = pending;
    pending = undefined;
    last = Date.now();
    fn(value);
  };
  return {
    push(value) {
      pending = { value };
      if (timer !== undefined) return;
      const wait = last + ms - Date.now();
      if (wait <= 0) fire();
      else timer = setTimeout(fire, wait);
    },
    flush() {
      clearTimeout(timer);
      fire();
    }
  };
}
