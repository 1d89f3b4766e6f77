/**
 * At most `limit` chunk tasks at once, for protect and retrieve alike: `add` waits while the window is
 * full and throws the first failure of any task; `drain` waits for the rest and throws it too.
 */
export class InFlight {
  readonly #tasks = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;

  constructor(
    private readonly limit: number,
    private readonly signal?: AbortSignal
  ) {}

  #check(): void {
    if (this.#failure) throw this.#failure.error;
    if (this.signal?.aborted) throw this.signal.reason;
  }

  async add(task: () => Promise<void>): Promise<void> {
    this.#check();
    const tracked: Promise<void> = task()
      .catch((error: unknown) => {
        this.#failure ??= { error };
      })
      .finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
    if (this.#tasks.size >= this.limit) await Promise.race(this.#tasks);
    this.#check();
  }

  async drain(): Promise<void> {
    await Promise.all(this.#tasks);
    this.#check();
  }
}
