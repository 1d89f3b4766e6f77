/**
 * The trash view's state (issue #18): what the person removed, newest first, page by page from
 * `GET /api/trash`; restore and empty. Removed items stay KOFN_TRASH_DAYS (30 by default) before the
 * coordinator purges them, and count against the quota until then.
 */
import type { BulkResult, TrashItem, TrashListing } from '@kofn/shared';
import { api } from '$lib/api';

export class TrashState {
  items = $state<TrashItem[]>([]);
  nextCursor = $state<string | null>(null);

  async load(): Promise<void> {
    const page = await api<TrashListing>('GET', '/api/trash?limit=100');
    this.items = page.items;
    this.nextCursor = page.nextCursor;
  }

  async more(): Promise<void> {
    if (!this.nextCursor) return;
    const page = await api<TrashListing>('GET', `/api/trash?limit=100&cursor=${encodeURIComponent(this.nextCursor)}`);
    this.items = [...this.items, ...page.items];
    this.nextCursor = page.nextCursor;
  }

  /** Puts items back; answers the messages of those that could not be restored. */
  async restore(items: TrashItem[]): Promise<string[]> {
    const { results } = await api<{ results: BulkResult[] }>('POST', '/api/trash/restore', {
      files: items.filter((i) => i.kind === 'file').map((i) => i.id),
      folders: items.filter((i) => i.kind === 'folder').map((i) => i.id)
    });
    await this.load();
    return results.flatMap((r) => (r.ok ? [] : [r.error.message]));
  }

  async empty(): Promise<{ files: number; folders: number }> {
    const counts = await api<{ files: number; folders: number }>('DELETE', '/api/trash');
    await this.load();
    return counts;
  }
}

export const trash = new TrashState();
