/**
 * Requests at once to one relay, shared by the clients that send to it (RelayClientOptions.slots): a request
 * waits here for a slot before its token is read, and holds it until its answer has been read.
 * Why: a browser opens at most six HTTP/1.1 connections to one host and queues further requests inside itself,
 * each with its token already in its headers. Behind slow share bodies a queued request waited longer than its
 * token lived, and so did its retry with a fresh token (an e2e run with 10 s tokens and a paced relay: the
 * download failed with TOKEN_EXPIRED). Queued here instead, a request reads its token when it can be sent.
 */
export class ConnectionSlots {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError('ConnectionSlots: size must be a whole number of at least 1');
    this.#free = size;
  }

  /** Requests holding a slot now. */
  get inUse(): number {
    return this.size - this.#free;
  }

  /**
   * Resolves with the slot's release once one is free (first come, first served); rejects with the signal's
   * reason if it aborts first, holding nothing. Calling the release more than once frees one slot only.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#free > 0) {
      this.#free -= 1;
      return Promise.resolve(this.#release());
    }
    return new Promise((resolve, reject) => {
      const take = () => {
        signal?.removeEventListener('abort', abort);
        resolve(this.#release());
      };
      const abort = () => {
        const at = this.#waiting.indexOf(take);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(signal?.reason);
      };
      this.#waiting.push(take);
      signal?.addEventListener('abort', abort, { once: true });
    });
  }

  #release(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      // The slot passes straight to the first waiter, or is freed.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free += 1;
    };
  }
}
