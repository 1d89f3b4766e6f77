/**
 * Waits `ms`, or rejects with the signal's reason as soon as it aborts (at once when it already has): the
 * backoff between retries of the relay client and of the CLI's coordinator client.
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    if (signal?.aborted) {
      rej(signal.reason);
      return;
    }
    const done = () => {
      clearTimeout(t);
      rej(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', done);
      res();
    }, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
