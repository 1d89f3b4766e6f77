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
}

class Transfers {
  items = $state<Transfer[]>([]);

  start(kind: Transfer['kind'], name: string, total: number): Transfer {
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
      controller: new AbortController()
    };
    this.items.unshift(t);
    return this.items[0]!;
  }

  clearFinished(): void {
    this.items = this.items.filter((t) => t.status === 'running');
  }
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
