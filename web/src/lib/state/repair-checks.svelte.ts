/**
 * The owner's browser checks repaired shares in the background while the Files page is open
 * (engine/verify-repair.ts has the method and the trust model). One file at a time, one retrieval at a
 * time, keeping nothing; results go to `POST /api/files/:id/verification`. No transfer rows: the file's
 * health cell says where it stands ("repaired · checking", then "verified by you"). A manager in the shape
 * of transfer-manager.svelte.ts: the page starts it and renders its state.
 */
import { SvelteMap } from 'svelte/reactivity';
import type { FileView, PendingVerifications, RelayTimeouts } from '@kofn/shared';
import { api } from '$lib/api';
import { reportOf, verifyRepaired } from '$lib/engine/verify-repair';

/** A file whose check could not finish (a relay down) is tried again after this long, not at every poll. */
const RETRY_MS = 5 * 60_000;

export type RepairCheckState = 'checking' | 'verified' | 'failed' | 'unchecked';

class RepairChecks {
  /** What this browser did for each file since the page opened; the coordinator's lists say the rest. */
  readonly states = new SvelteMap<string, RepairCheckState>();
  #listeners = new Set<() => void>();
  #retryAt = new Map<string, number>();
  #running = false;
  #seen = '';
  #relayTimeouts: Partial<RelayTimeouts> | undefined;
  #signal: AbortSignal | undefined;

  /**
   * Asks now, and again each time the page becomes visible (a person back at the tab), and when a refreshed
   * list shows a file awaiting its check (noticeListed); returns the stop. No timer: an idle page asks the
   * coordinator nothing (live-pings.spec).
   */
  start(relayTimeouts?: Partial<RelayTimeouts>): () => void {
    this.#relayTimeouts = relayTimeouts;
    const abort = new AbortController();
    this.#signal = abort.signal;
    const tick = () => {
      if (document.visibilityState === 'visible') void this.poll();
    };
    tick();
    document.addEventListener('visibilitychange', tick);
    return () => {
      document.removeEventListener('visibilitychange', tick);
      abort.abort();
    };
  }

  /** A list the page just loaded: a file in it awaiting its check, not being checked nor waiting to retry, starts a poll. */
  noticeListed(files: readonly FileView[]): void {
    const due = files.some((f) => f.verify && this.states.get(f.id) !== 'checking' && (this.#retryAt.get(f.id) ?? 0) <= Date.now());
    if (due) void this.poll();
  }

  /** Called when a check reported, or the shares awaiting a check changed: the page refreshes its lists. */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** What the file's health cell shows about repaired shares: '' when there is nothing to say. */
  labelOf(f: FileView): 'checking' | 'verified' | '' {
    // The list may predate this browser's report, or a repair after an earlier verification.
    if (f.verify) return this.states.get(f.id) === 'verified' ? 'verified' : 'checking';
    return f.verifiedAt ? 'verified' : '';
  }

  async poll(): Promise<void> {
    const signal = this.#signal;
    if (this.#running || !signal || signal.aborted) return;
    this.#running = true;
    try {
      const { files } = await api<PendingVerifications>('GET', '/api/files/verification');
      const seen = JSON.stringify(files);
      if (seen !== this.#seen) {
        this.#seen = seen;
        this.#notify();
      }
      // Read at each file, not narrowed once: the page may close while a check runs.
      const stopped = () => signal.aborted;
      for (const f of files) {
        if (stopped()) break;
        if ((this.#retryAt.get(f.fileId) ?? 0) > Date.now()) continue;
        await this.#check(f, signal);
      }
    } catch (err) {
      // Not the person's concern (a background check): a signed-out page or a coordinator away is shown by the
      // page's own requests, and the next poll tries again.
      if ((err as { name?: string } | null)?.name !== 'AbortError') this.#seen = '';
    } finally {
      this.#running = false;
    }
  }

  async #check(f: PendingVerifications['files'][number], signal: AbortSignal): Promise<void> {
    this.states.set(f.fileId, 'checking');
    const outcomes = await verifyRepaired(f.fileId, f, { k: f.k, signal, ...(this.#relayTimeouts ? { relayTimeouts: this.#relayTimeouts } : {}) });
    let state: RepairCheckState = 'verified';
    for (const o of outcomes) {
      const report = reportOf(f.epoch, o);
      if (!report) {
        state = 'unchecked';
        this.#retryAt.set(f.fileId, Date.now() + RETRY_MS);
        continue;
      }
      try {
        await api('POST', `/api/files/${f.fileId}/verification`, report);
        if (!report.ok) state = 'failed';
      } catch (err) {
        state = 'unchecked';
        // Renewed, moved or repaired again meanwhile (VERIFICATION_STALE): the next look names what to check.
        // Any other refusal or a coordinator away: not another whole retrieval at every look.
        if ((err as { code?: string } | null)?.code !== 'VERIFICATION_STALE') this.#retryAt.set(f.fileId, Date.now() + RETRY_MS);
      }
    }
    this.states.set(f.fileId, state);
    this.#notify();
  }

  #notify(): void {
    for (const fn of this.#listeners) fn();
  }
}

export const repairChecks = new RepairChecks();
