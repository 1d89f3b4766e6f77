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

/**
 * `ms`: the least time from the end of a run to the start of the next. `spacing`: besides, a run that took
 * t ms is followed by at least spacing × t ms without one, so a refresh slowed by a busy coordinator takes
 * no more than 1 / (1 + spacing) of its time (issue #18: at load 27 each refresh of the dashboard, six
 * requests, took 0.4-0.9 s, and at one a second they were more of the coordinator's work than the drop's
 * reservations and commits).
 */
export function throttleRuns(task: () => Promise<void>, ms: number, spacing = 0): ThrottledRuns {
  /** The run that will serve the requests made since the last run started. */
  let next: { promise: Promise<void>; resolve: () => void } | undefined;
  /** The requests the run in progress serves (undefined: none running). */
  let running: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastEnd = -Infinity;
  let lastTook = 0;

  const start = async () => {
    timer = undefined;
    const serving = next;
    if (!serving || running !== undefined) return;
    next = undefined;
    running = serving.promise;
    const began = Date.now();
    try {
      await task();
    } catch {
      // The task reports its own errors (the page's refresh shows them); a failed run still ends the wait.
    } finally {
      running = undefined;
      lastEnd = Date.now();
      lastTook = lastEnd - began;
      serving.resolve();
      // Requests made during the run wait for the next one.
      schedule();
    }
  };
  const schedule = () => {
    if (next === undefined || running !== undefined || timer !== undefined) return;
    const wait = lastEnd + Math.max(ms, spacing * lastTook) - Date.now();
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
