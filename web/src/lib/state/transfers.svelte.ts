/** Protect and retrieve operations in progress, for the progress panel (rune state, one instance). */
import { randomUuid } from '@kofn/shared';
export interface Transfer {
  id: string;
  kind: 'protect' | 'retrieve';
  name: string;
  total: number;
  done: number;
  startedAt: number;
  perRelay: Record<string, number>;
  relayNames: Record<string, string>;
  status: 'running' | 'done' | 'error' | 'cancelled';
  message: string;
  controller: AbortController;
  /** The transfer group (a dropped folder) this file belongs to: the panel shows it in the group's row. */
  group?: string;
}

/**
 * The files of one dropped folder, shown as one row (issue #18: a folder of 1,000 small files is one
 * transfer, with each file's row on demand): fewer rows to render while hundreds finish, one Cancel.
 */
export interface TransferGroup {
  id: string;
  name: string;
  /** Files and bytes the folder holds, known before its first file starts. */
  files: number;
  bytes: number;
  startedAt: number;
  /** Aborts the group's running files and keeps the rest from starting. */
  controller: AbortController;
  /** No file of the group is left to start. */
  finished: boolean;
}

class Transfers {
  /**
   * Oldest first (the panel shows them newest first): a new transfer is pushed. Put in front, each of a
   * folder's 1,000 files moved every row before it, a write to each row's reactive index (issue #18).
   */
  items = $state<Transfer[]>([]);
  groups = $state<Record<string, TransferGroup>>({});

  startGroup(name: string, files: number, bytes: number): TransferGroup {
    const id = randomUuid();
    this.groups[id] = { id, name, files, bytes, startedAt: performance.now(), controller: new AbortController(), finished: false };
    return this.groups[id];
  }

  start(kind: Transfer['kind'], name: string, total: number, group?: TransferGroup): Transfer {
    const t: Transfer = {
      id: randomUuid(),
      kind,
      name,
      total,
      done: 0,
      startedAt: performance.now(),
      perRelay: {},
      relayNames: {},
      status: 'running',
      message: '',
      controller: new AbortController(),
      ...(group ? { group: group.id } : {})
    };
    this.items.push(t);
    return this.items[this.items.length - 1]!;
  }

  clearFinished(): void {
    const running = (t: Transfer) => t.status === 'running';
    // A group stays while any of its files may still start, so its row keeps counting from its first file.
    this.items = this.items.filter((t) => running(t) || (t.group !== undefined && this.groups[t.group]?.finished === false));
    const kept = new Set(this.items.map((t) => t.group));
    for (const id of Object.keys(this.groups)) if (!kept.has(id) && this.groups[id]?.finished) Reflect.deleteProperty(this.groups, id);
  }

  clearAll(): void {
    this.items = [];
    this.groups = {};
  }
}

/** What a group's row shows: how many of its files ended each way, and the bytes sent so far. */
export function groupSummary(g: TransferGroup, items: readonly Transfer[]): { done: number; failed: number; cancelled: number; running: number; bytes: number; status: Transfer['status'] } {
  let done = 0;
  let failed = 0;
  let cancelled = 0;
  let running = 0;
  let bytes = 0;
  for (const t of items) {
    bytes += t.done;
    if (t.status === 'done') done++;
    else if (t.status === 'error') failed++;
    else if (t.status === 'cancelled') cancelled++;
    else running++;
  }
  const status = running > 0 || !g.finished ? 'running' : failed > 0 ? 'error' : cancelled > 0 ? 'cancelled' : 'done';
  return { done, failed, cancelled, running, bytes, status };
}

export const transfers = new Transfers();

export function speed(t: Transfer): number {
  const s = (performance.now() - t.startedAt) / 1000;
  return s > 0 ? t.done / s : 0;
}

export function eta(t: Transfer): number {
  const v = speed(t);
  return v > 0 ? (t.total - t.done) / v : Infinity;
}
