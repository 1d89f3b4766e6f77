/**
 * Window virtualisation of a long list (issue #18: a folder of 10,000 files scrolls smoothly): only the
 * rows near the viewport are in the DOM, the page itself scrolls (no inner scroll box, so the page,
 * keyboard and screen readers behave as for a short list), and two spacers stand for the rows left out.
 *
 * @tanstack/svelte-virtual's virtualizer does the range arithmetic and measures each rendered row (rows
 * differ in height: wrapped names, health details, phone cards). Its Svelte adapter hands out a store;
 * this class drives the same core `Virtualizer` (re-exported by the adapter) straight into runes instead,
 * because a store whose value is always the same object fits `$derived` poorly.
 *
 * Use: `{@attach list.attach}` on the element where the list starts (tbody, ul), `list.update(count, key)`
 * whenever the rows change, `{@attach list.measure}` with `data-index={item.index}` on each row, and
 * `list.before` / `list.after` as the spacers' heights (or `list.gapBefore(i)` before each rendered row,
 * for a list that pins a row: see `pin`).
 */
import { Virtualizer, defaultRangeExtractor, observeWindowOffset, observeWindowRect, windowScroll, type Range, type VirtualItem, type VirtualizerOptions } from '@tanstack/svelte-virtual';

/**
 * Rows rendered beyond each edge of the viewport: Tab from the last visible row lands on a rendered one,
 * which the browser scrolls into view, which renders the next ones (keyboard focus walks the whole list).
 * One would do for that; a few more hide the blank edge of a fast scroll, and each costs render time.
 */
export const OVERSCAN = 5;

/**
 * Lists up to this many rows are rendered whole: the browser's find in page, a screen reader's list of
 * rows and a reload's restored scroll position then see every row, and rendering this many costs less
 * than a frame or two. Past it only the rows near the viewport are rendered.
 */
export const RENDER_WHOLE = 200;

export class WindowList {
  /** The rows to render, in order. */
  items = $state.raw<VirtualItem[]>([]);
  /** Height of all rows, measured where rendered, estimated elsewhere. */
  total = $state(0);
  #margin = $state(0);
  #v: Virtualizer<Window, HTMLElement>;
  #options: VirtualizerOptions<Window, HTMLElement>;
  #start: HTMLElement | undefined;
  /** The key of the row holding keyboard focus (pin), and where it is in the rows now. */
  #pinned: string | undefined;
  #pinnedIndex = -1;

  constructor(estimate: number) {
    this.#options = {
      count: 0,
      getScrollElement: () => (typeof window === 'undefined' ? null : window),
      observeElementRect: observeWindowRect,
      observeElementOffset: observeWindowOffset,
      scrollToFn: windowScroll,
      initialOffset: () => (typeof window === 'undefined' ? 0 : window.scrollY),
      estimateSize: () => estimate,
      overscan: OVERSCAN,
      rangeExtractor: (range) => this.#range(range),
      onChange: () => this.#publish()
    };
    this.#v = new Virtualizer(this.#options);
  }

  /**
   * The rendered rows' indexes: the window's, and the pinned row with one neighbour each side wherever it
   * is. Focus pinning (WAI-ARIA APG, "Developing a keyboard interface": focus must not be lost): a row that
   * holds keyboard focus stays in the page when the window scrolls away from it or the list is loaded
   * again, so focus stays on its control instead of falling back to the page's start; its neighbours make
   * Tab and Shift+Tab go on to the next and previous rows, which the browser then scrolls into view.
   */
  #range(range: Range): number[] {
    const base = defaultRangeExtractor(range);
    const p = this.#pinnedIndex;
    if (p < 0 || p >= range.count) return base;
    const extra = [p - 1, p, p + 1].filter((i) => i >= 0 && i < range.count && !base.includes(i));
    return [...base, ...extra].sort((a, b) => a - b);
  }

  /**
   * Keeps the row of `key` rendered (it holds keyboard focus); undefined lets go. `key` is the rows' own
   * key (update()), so the pin follows the row when the rows are loaded again in another order.
   */
  pin(key: string | undefined): void {
    if (key === this.#pinned) return;
    this.#pinned = key;
    this.#pinnedIndex = key === undefined ? -1 : this.#indexOf(key);
    this.#set({});
  }

  #indexOf(key: string): number {
    const { count, getItemKey } = this.#options;
    if (!getItemKey) return -1;
    for (let i = 0; i < count; i++) if (getItemKey(i) === key) return i;
    return -1;
  }

  /** Space standing for the rows left out before rendered row `i` of `items` (above it, after the previous one). */
  gapBefore(i: number): number {
    const item = this.items[i];
    if (!item) return 0;
    const prev = this.items[i - 1];
    return Math.max(0, item.start - (prev ? prev.end : this.#margin));
  }

  /** Space standing for the rows above the rendered ones. */
  get before(): number {
    const first = this.items[0];
    return first ? first.start - this.#margin : 0;
  }

  /** Space standing for the rows below the rendered ones. */
  get after(): number {
    const last = this.items[this.items.length - 1];
    return last ? Math.max(0, this.total - (last.end - this.#margin)) : 0;
  }

  #publish(): void {
    this.items = this.#v.getVirtualItems();
    this.total = this.#v.getTotalSize();
  }

  #set(patch: Partial<VirtualizerOptions<Window, HTMLElement>>): void {
    this.#options = { ...this.#options, ...patch };
    this.#v.setOptions(this.#options);
    this.#v._willUpdate();
    this.#publish();
  }

  /** The rows changed (loaded, filtered, sorted): `key` keeps each row's measured height with its row. */
  update(count: number, key: (index: number) => string): void {
    // An overscan of the whole count renders every row, wherever the viewport is.
    this.#options = { ...this.#options, count, getItemKey: key };
    // The pinned row may have moved (sorted, loaded again, rows added above it) or gone.
    this.#pinnedIndex = this.#pinned === undefined ? -1 : this.#indexOf(this.#pinned);
    this.#set({ overscan: count <= RENDER_WHOLE ? count : OVERSCAN });
  }

  /**
   * Where the list starts in the page (the virtualizer counts offsets from the page's top): read again on
   * scroll and on any layout change above it (a transfer panel growing, a notice appearing).
   */
  #follow = (): void => {
    if (!this.#start) return;
    const margin = Math.round(this.#start.getBoundingClientRect().top + window.scrollY);
    if (Math.abs(margin - this.#margin) >= 1) {
      this.#margin = margin;
      this.#set({ scrollMargin: margin });
    }
  };

  /** Attachment for the element the rows start at. */
  attach = (el: HTMLElement): (() => void) => {
    this.#start = el;
    const unmount = this.#v._didMount();
    this.#follow();
    this.#v._willUpdate();
    this.#publish();
    window.addEventListener('scroll', this.#follow, { passive: true });
    const resized = new ResizeObserver(this.#follow);
    resized.observe(document.body);
    return () => {
      window.removeEventListener('scroll', this.#follow);
      resized.disconnect();
      unmount();
      this.#start = undefined;
    };
  };

  /** Attachment for each rendered row (which carries `data-index`): its real height replaces the estimate. */
  measure = (el: HTMLElement): void => {
    this.#v.measureElement(el);
  };

  /** Brings row `index` into view (rendering it), e.g. before focusing it. */
  scrollToIndex(index: number): void {
    this.#v.scrollToIndex(index, { align: 'auto' });
  }
}
