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

/** How often the page asks for repaired shares to check: one small GET, answered from the owner's rows. */
const POLL_MS = 20_000;
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

  /** Starts checking now and every POLL_MS while the page is visible; returns the stop. */
  start(relayTimeouts?: Partial<RelayTimeouts>): () => void {
    this.#relayTimeouts = relayTimeouts;
    const abort = new AbortController();
    this.#signal = abort.signal;
    const tick = () => {
      if (document.visibilityState === 'visible') void this.poll();
    };
    tick();
    const timer = setInterval(tick, POLL_MS);
    return () => {
      clearInterval(timer);
      abort.abort();
    };
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
        // Renewed, moved or repaired again meanwhile (VERIFICATION_STALE): the next poll names what to check.
        // Any other refusal or a coordinator away: not another whole retrieval at every poll.
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
