/**
 * The folder being shown (issue #18): its breadcrumbs, subfolders and files one page at a time from
 * `GET /api/folders` (keyset pages: a folder of 10,000 files is never loaded whole; the list renders only
 * what is near the viewport and asks for the next page as it nears the end), the search by name across
 * all folders (on the server, paged the same way), the multi-select, and the actions on folders and files
 * (new folder, rename, move, remove to the trash, share, in bulk too).
 * Pages render it; it acts (STYLE.md: rune state in a class, one exported instance).
 */
import { SvelteSet, SvelteURLSearchParams } from 'svelte/reactivity';
import type { BulkResult, FileView, FolderListing, FolderView, OnNameConflict } from '@kofn/shared';
import { api } from '$lib/api';
import type { ZipItem } from '$lib/engine/zip';
import { KofnError } from '@kofn/shared';

/** Items per page: the server's most (MAX_PAGE). The list renders only the rows near the viewport, so a page costs its request, not its rendering. */
export const PAGE = 500;
/** Items a folder is loaded with at once, so sorting it in the browser sees all of it (a few MB of rows). */
const SORTED_WHOLE = 10_000;
/** The most listing rows one zip walks (a folder's pages at the coordinator's largest page size). */
const WALK_PAGE = 500;
/** The most files and folders one zip holds: its plan (names and sizes only) stays a few MB. */
export const ZIP_MAX_ITEMS = 100_000;

export type Item = { kind: 'file'; id: string; name: string } | { kind: 'folder'; id: string; name: string };

/**
 * `next` with each row that equals one already shown (same id, same fields) replaced by the shown one, so a
 * refresh that changed a row or two re-renders those, not the list: refreshed once a second while a folder
 * of small files is protected, every rendered row (up to 200) was rendered again each time (issue #18).
 */
function keepUnchanged<T extends { id: string }>(shown: readonly T[], next: T[]): T[] {
  if (shown.length === 0) return next;
  const old = new Map(shown.map((x) => [x.id, x]));
  return next.map((x) => {
    const o = old.get(x.id);
    return o !== undefined && JSON.stringify(o) === JSON.stringify(x) ? o : x;
  });
}

export class FolderBrowser {
  /** The folder shown; null: the root. */
  folderId = $state<string | null>(null);
  path = $state<Array<{ id: string; name: string }>>([]);
  folders = $state<FolderView[]>([]);
  files = $state<FileView[]>([]);
  nextCursor = $state<string | null>(null);
  /** Files and folders ticked for a bulk action. */
  selectedFiles = new SvelteSet<string>();
  selectedFolders = new SvelteSet<string>();
  /** What protecting a file whose name is taken in this folder does (the coordinator refuses by default). */
  onConflict = $state<OnNameConflict>('keepBoth');
  /** A name searched for across all folders; '' shows the folder. */
  query = $state('');
  /**
   * The order pages are asked in (issue #18, server-side sort): the list's own sort, so a folder loaded
   * only in part shows the first items of that order, not of the name order (GET /api/folders sort/order).
   * Newest first, as the list starts.
   */
  sortKey = $state<'name' | 'size' | 'date'>('date');
  descending = $state(true);
  /** A next page is being fetched (scrolling asks again and again; one request at a time). */
  #loadingMore = false;
  /**
   * Counts listings asked for: only the answer to the latest is shown. Without it a refresh started before
   * a move (a transfer finishing) that answered after the move's own refresh put the moved row back.
   */
  #seq = 0;

  get selectionSize(): number {
    return this.selectedFiles.size + this.selectedFolders.size;
  }

  clearSelection(): void {
    this.selectedFiles.clear();
    this.selectedFolders.clear();
  }

  #url(cursor?: string | null): string {
    const q = new SvelteURLSearchParams({ limit: String(PAGE) });
    if (this.folderId) q.set('parent', this.folderId);
    if (this.query) q.set('q', this.query);
    q.set('sort', this.sortKey);
    q.set('order', this.descending ? 'desc' : 'asc');
    if (cursor) q.set('cursor', cursor);
    return `/api/folders?${q}`;
  }

  /**
   * The list's sort changed. A folder loaded whole is already sorted in the browser; one loaded in part
   * (a next page is left) is loaded again in the new order, so what shows is the start of that order.
   */
  async setSort(key: 'name' | 'size' | 'date', descending: boolean): Promise<void> {
    if (key === this.sortKey && descending === this.descending) return;
    this.sortKey = key;
    this.descending = descending;
    if (this.nextCursor !== null) await this.refresh();
  }

  /** Shows a folder (null: the root) from its first page. */
  async open(folderId: string | null): Promise<void> {
    this.folderId = folderId;
    this.query = '';
    this.clearSelection();
    await this.refresh();
  }

  /** Searches all folders for names containing `query` ('' shows the folder again), from the first page. */
  async search(query: string): Promise<void> {
    if (query === this.query) return;
    this.query = query;
    this.clearSelection();
    await this.refresh();
  }

  /**
   * Reloads the folder shown in the list's sort (the server sorts: sortKey, descending). The first page
   * shows as soon as it is in; the next ones follow in the background up to SORTED_WHOLE items (so find in
   * page sees them), and past that the rest comes as the list scrolls (more()), in the same order. Before
   * the server sorted, the list waited for all of them, which took seconds for 10,000 files.
   */
  async refresh(): Promise<void> {
    const mine = ++this.#seq;
    const page = await api<FolderListing>('GET', this.#url());
    if (mine !== this.#seq) return;
    this.path = page.path;
    this.folders = keepUnchanged(this.folders, page.folders);
    this.files = keepUnchanged(
      this.files,
      page.files.filter((f) => f.status !== 'deleting')
    );
    this.nextCursor = page.nextCursor;
    // A page still on its way for an older listing is dropped when it lands (its seq is old): not waited for.
    this.#loadingMore = false;
    if (page.nextCursor) void this.#fill(mine).catch(() => undefined);
  }

  /** The rest of a refresh, page by page, while no newer listing was asked for (more() waits meanwhile). */
  async #fill(mine: number): Promise<void> {
    this.#loadingMore = true;
    try {
      while (this.nextCursor && this.folders.length + this.files.length < SORTED_WHOLE) {
        const page = await api<FolderListing>('GET', this.#url(this.nextCursor));
        if (mine !== this.#seq) return;
        this.folders = [...this.folders, ...page.folders];
        this.files = [...this.files, ...page.files.filter((f) => f.status !== 'deleting')];
        this.nextCursor = page.nextCursor;
      }
    } finally {
      if (mine === this.#seq) this.#loadingMore = false;
    }
  }

  /** Appends the next page. */
  async more(): Promise<void> {
    if (!this.nextCursor || this.#loadingMore) return;
    this.#loadingMore = true;
    const seq = this.#seq;
    try {
      const page = await api<FolderListing>('GET', this.#url(this.nextCursor));
      // The list was loaded again (another folder, a search, a change) while this page was on its way.
      if (seq !== this.#seq) return;
      this.folders = [...this.folders, ...page.folders];
      this.files = [...this.files, ...page.files.filter((f) => f.status !== 'deleting')];
      this.nextCursor = page.nextCursor;
    } finally {
      // A newer listing reset this already (refresh), and may be filling now.
      if (seq === this.#seq) this.#loadingMore = false;
    }
  }

  async createFolder(name: string): Promise<FolderView> {
    const made = await api<FolderView>('POST', '/api/folders', { name, ...(this.folderId ? { parentId: this.folderId } : {}) });
    await this.refresh();
    return made;
  }

  async rename(item: Item, name: string): Promise<void> {
    await api('PATCH', item.kind === 'file' ? `/api/files/${item.id}` : `/api/folders/${item.id}`, { name });
    await this.refresh();
  }

  /** Moves items into `to` (null: the root); answers the items that could not be moved, with why. */
  async move(items: Item[], to: string | null): Promise<Array<{ item: Item; message: string }>> {
    return this.#bulk('move', items, { to });
  }

  /** Moves items to the trash; answers the ones that could not be, with why. */
  async trash(items: Item[]): Promise<Array<{ item: Item; message: string }>> {
    return this.#bulk('trash', items, {});
  }

  /**
   * Gives `email` read access to each of `items` that is a file (read access is per file) in one request;
   * answers the ones that could not be shared, with why. The selection stays, so it can go on to others.
   */
  async share(items: Item[], email: string): Promise<Array<{ item: Item; message: string }>> {
    const fileItems = items.filter((i) => i.kind === 'file');
    const { results } = await api<{ results: BulkResult[] }>('POST', '/api/folders/bulk', { action: 'share', files: fileItems.map((i) => i.id), emails: [email] });
    return results.flatMap((r, i) => (r.ok ? [] : [{ item: fileItems[i]!, message: r.error.message }]));
  }

  /**
   * Ends all sharing of the selection's files (bulk revoke): everyone's read access and every link, one
   * request (`POST /api/folders/bulk` action `revoke`). Answers the totals and the files that failed.
   */
  async revokeAll(items: Item[]): Promise<{ people: number; links: number; failed: Array<{ item: Item; message: string }> }> {
    const fileItems = items.filter((i) => i.kind === 'file');
    const { results } = await api<{ results: BulkResult[] }>('POST', '/api/folders/bulk', { action: 'revoke', files: fileItems.map((i) => i.id) });
    let people = 0;
    let links = 0;
    const failed: Array<{ item: Item; message: string }> = [];
    results.forEach((r, i) => {
      if (r.ok) {
        people += r.revoked?.people ?? 0;
        links += r.revoked?.links ?? 0;
      } else failed.push({ item: fileItems[i]!, message: r.error.message });
    });
    return { people, links, failed };
  }

  /** The ticked items, as bulk actions take them. */
  selection(): Item[] {
    return [
      ...this.folders.filter((f) => this.selectedFolders.has(f.id)).map((f) => ({ kind: 'folder' as const, id: f.id, name: f.name })),
      ...this.files.filter((f) => this.selectedFiles.has(f.id)).map((f) => ({ kind: 'file' as const, id: f.id, name: f.name }))
    ];
  }

  /** The zip's name for `items`: a lone folder's name, else the folder shown's ("Your files" at the root). */
  zipName(items: Item[]): string {
    const only = items.length === 1 ? items[0] : undefined;
    if (only?.kind === 'folder') return `${only.name}.zip`;
    return `${this.path[this.path.length - 1]?.name ?? 'Your files'} (${items.length} items).zip`;
  }

  /**
   * What a zip of `items` holds, in order: files as they are, and each folder with everything below it
   * (empty folders too), walked a page at a time on the coordinator. Only available files go in (one
   * still uploading or being removed has nothing to retrieve). More than ZIP_MAX_ITEMS: INVALID_ARGUMENT, saying so.
   */
  async zipPlan(items: Item[]): Promise<ZipItem[]> {
    const out: ZipItem[] = [];
    const add = (item: ZipItem) => {
      if (out.length >= ZIP_MAX_ITEMS) throw new KofnError('INVALID_ARGUMENT', `A ZIP holds at most ${ZIP_MAX_ITEMS.toLocaleString('en')} files and folders; choose fewer.`);
      out.push(item);
    };
    const file = (f: FileView, dir: string[]) => {
      if (f.status === 'available') add({ kind: 'file', id: f.id, name: f.name, size: f.size, dir, modifiedAt: f.modifiedAt });
    };
    // Depth-first, so a folder's entries stay together; the coordinator bounds nesting (64 levels).
    const walk = async (id: string, path: string[]): Promise<void> => {
      add({ kind: 'folder', path });
      const below: FolderView[] = [];
      let cursor: string | null = null;
      do {
        const q = new SvelteURLSearchParams({ limit: String(WALK_PAGE), parent: id });
        if (cursor) q.set('cursor', cursor);
        const page: FolderListing = await api<FolderListing>('GET', `/api/folders?${q}`);
        below.push(...page.folders);
        for (const f of page.files) file(f, path);
        cursor = page.nextCursor;
      } while (cursor);
      for (const sub of below) await walk(sub.id, [...path, sub.name]);
    };
    for (const item of items) {
      if (item.kind === 'folder') await walk(item.id, [item.name]);
      else {
        const listed = this.files.find((f) => f.id === item.id);
        if (listed) file(listed, []);
      }
    }
    return out;
  }

  async #bulk(action: 'move' | 'trash', items: Item[], extra: Record<string, unknown>): Promise<Array<{ item: Item; message: string }>> {
    const fileItems = items.filter((i) => i.kind === 'file');
    const folderItems = items.filter((i) => i.kind === 'folder');
    const { results } = await api<{ results: BulkResult[] }>('POST', '/api/folders/bulk', { action, files: fileItems.map((i) => i.id), folders: folderItems.map((i) => i.id), ...extra });
    const ordered = [...fileItems, ...folderItems];
    const failed = results.flatMap((r, i) => (r.ok ? [] : [{ item: ordered[i]!, message: r.error.message }]));
    this.clearSelection();
    await this.refresh();
    return failed;
  }
}

export const folderBrowser = new FolderBrowser();
