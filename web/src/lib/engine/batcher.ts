/**
 * Gathers single requests into batch requests (issue #18: many small files, the coordinator's `POST
 * /api/files/batch` and `POST /api/files/commit`), self-clocked: the first request goes at once, alone;
 * requests made while a batch is on its way wait and go together in the next one (at most `max` a batch).
 * Under a trickle nothing waits for a timer; under a flood the batches grow with the coordinator's delay.
 * Each caller gets its own item's result, or its own item's error, as if it had asked alone.
 */
export type ItemResult<Out> = { ok: true; value: Out } | { ok: false; error: unknown };

export class Batcher<In, Out> {
  readonly #queue: Array<{ item: In; resolve: (v: Out) => void; reject: (e: unknown) => void }> = [];
  #busy = false;

  /** `send` answers one result per item, in order; its throwing fails every item of that batch. */
  constructor(
    private readonly send: (items: In[]) => Promise<Array<ItemResult<Out>>>,
    private readonly max: number
  ) {}

  call(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      void this.#pump();
    });
  }

  async #pump(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.max);
        try {
          const results = await this.send(batch.map((b) => b.item));
          batch.forEach((b, i) => {
            const r = results[i];
            if (!r) b.reject(new Error('The batch answer has fewer results than requests.'));
            else if (r.ok) b.resolve(r.value);
            else b.reject(r.error);
          });
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.#busy = false;
    }
  }
}
