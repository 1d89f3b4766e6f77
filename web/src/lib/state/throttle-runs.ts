/**
 * Runs an async task (the page's refresh of its lists) on request, at most once every `ms` and never two
 * at once; requests meanwhile share the next run, so the last request is always followed by a full run.
 * Why: the transfer manager asks for a refresh after every protected file, and the dashboard's refresh is
 * six requests and a re-render of the list; run for each of 100 small files of a dropped folder, in turn,
 * it was most of the time the folder took (issue #18, many-files.bench).
 */
export interface ThrottledRuns {
  /** Resolves once a run that started after this request has ended (its failure is swallowed). */
  request: () => Promise<void>;
  /**
   * Resolves once no run is waiting or running: every request made so far has been served, without asking
   * for another run (a caller whose work already requested runs waits for them, not for one more).
   */
  settled: () => Promise<void>;
}

export function throttleRuns(task: () => Promise<void>, ms: number): ThrottledRuns {
  /** The run that will serve the requests made since the last run started. */
  let next: { promise: Promise<void>; resolve: () => void } | undefined;
  /** The requests the run in progress serves (undefined: none running). */
  let running: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastEnd = -Infinity;

  const start = async () => {
    timer = undefined;
    const serving = next;
    if (!serving || running !== undefined) return;
    next = undefined;
    running = serving.promise;
    try {
      await task();
    } catch {
      // The task reports its own errors (the page's refresh shows them); a failed run still ends the wait.
    } finally {
      running = undefined;
      lastEnd = Date.now();
      serving.resolve();
      // Requests made during the run wait for the next one.
      schedule();
    }
  };
  const schedule = () => {
    if (next === undefined || running !== undefined || timer !== undefined) return;
    const wait = lastEnd + ms - Date.now();
    if (wait <= 0) void start();
    else timer = setTimeout(() => void start(), wait);
  };
  return {
    request() {
      if (!next) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        next = { promise, resolve };
      }
      const { promise } = next;
      schedule();
      return promise;
    },
    async settled() {
      for (let wait = next?.promise ?? running; wait; wait = next?.promise ?? running) await wait;
    }
  };
}
