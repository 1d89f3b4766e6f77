/**
 * One form's submit → busy → error cycle, which the sign-in, setup, account, share, link and
 * administration forms each wrote out by hand (issue #17: consistent error text in forms). A form keeps one
 * FormAction, runs its request through `run`, disables its button while `busy`, and shows `message` and
 * `error` with FormStatus.svelte.
 */
import { handleError } from '$lib/errors';

/**
 * Codes whose message the coordinator words for people (password rules, throttling, a conflict's exact
 * reason) and a form shows as they are; every other failure gets handleError's plain words.
 */
export type PreciseCodes = readonly string[] | ((code: string) => boolean);

/** The words a form shows for a failure: '' for one not worth showing (an abort, see handleError). */
export function explain(err: unknown, precise: PreciseCodes = []): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e?.code === 'string' && typeof e.message === 'string' && e.message) {
    const keep = typeof precise === 'function' ? precise(e.code) : precise.includes(e.code);
    if (keep) return e.message;
  }
  return handleError(err)?.message ?? '';
}

export class FormAction {
  busy = $state(false);
  /** What went wrong, in plain words (shown as an alert). */
  error = $state('');
  /** What was done (shown as a status). */
  message = $state('');
  readonly #precise: PreciseCodes;

  constructor(precise: PreciseCodes = []) {
    this.#precise = precise;
  }

  /**
   * Runs one submit: clears both texts, is busy until `work` settles, and on failure shows it in plain
   * words and calls `failed` (a form that must reset a field). Answers work's result, or undefined when
   * it failed; never throws.
   */
  async run<T>(work: () => Promise<T>, failed?: (err: unknown) => void): Promise<T | undefined> {
    this.busy = true;
    this.error = '';
    this.message = '';
    try {
      return await work();
    } catch (err) {
      this.error = explain(err, this.#precise);
      failed?.(err);
      return undefined;
    } finally {
      this.busy = false;
    }
  }

  /** Shows a failure that happened outside `run` (a list that failed to load). */
  fail(err: unknown): void {
    this.error = explain(err, this.#precise);
  }

  /** Shows a refusal decided in the browser, before any request. */
  refuse(words: string): void {
    this.message = '';
    this.error = words;
  }

  clear(): void {
    this.error = '';
    this.message = '';
  }
}
