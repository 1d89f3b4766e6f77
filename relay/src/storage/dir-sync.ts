/**
 * Group commit for directory fsyncs (the disk store's last step before acknowledging a chunk).
 *
 * A chunk is acknowledged only once its spool file is fsynced and, after it was linked into place, its
 * directory is fsynced (storage/disk.ts). Chunks of one file are uploaded in parallel into one directory,
 * so many callers want the same directory synced at once; one fsync that starts after all their links
 * covers them all. The rule that keeps each caller's guarantee: a caller is answered only by an fsync
 * that began after it asked. If none is running, one starts now; if one is running (it may have begun
 * before this caller's link), the caller waits for the next one, which every caller arriving meanwhile
 * shares. So N concurrent commits into one directory cost about 2 fsyncs instead of N.
 * (The same idea as a database's group commit of its log, e.g. PostgreSQL's commit_delay.)
 */
import { open } from 'node:fs/promises';

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

interface DirState {
  /** The fsync running now. */
  running?: Promise<void> | undefined;
  /** The fsync that starts when `running` ends, shared by every caller who asked meanwhile. */
  next?: Promise<void> | undefined;
}

export class DirSync {
  readonly #dirs = new Map<string, DirState>();
  /** fsyncs started, for tests and the benchmark. */
  started = 0;

  constructor(private readonly syncDir: (dir: string) => Promise<void> = fsyncDir) {}

  /** Resolves after an fsync of `dir` that began after this call; rejects if that fsync failed. */
  sync(dir: string): Promise<void> {
    let s = this.#dirs.get(dir);
    if (!s) {
      s = {};
      this.#dirs.set(dir, s);
    }
    const running = s.running;
    if (!running) return this.#start(dir, s);
    const state = s;
    state.next ??= running.then(
      () => this.#startNext(dir, state),
      () => this.#startNext(dir, state)
    );
    return state.next;
  }

  #startNext(dir: string, s: DirState): Promise<void> {
    s.next = undefined;
    return this.#start(dir, s);
  }

  #start(dir: string, s: DirState): Promise<void> {
    this.started++;
    const run: Promise<void> = this.syncDir(dir).finally(() => {
      if (s.running === run) s.running = undefined;
      if (!s.running && !s.next && this.#dirs.get(dir) === s) this.#dirs.delete(dir);
    });
    s.running = run;
    return run;
  }
}
