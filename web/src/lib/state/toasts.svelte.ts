/**
 * Short notices for finished and failed operations (issue #17: "toasts for finished/failed operations").
 * Rune state in a class, one exported instance (immich's `*-manager.svelte.ts` shape). A failure stays
 * until dismissed, since a person may be away when it happens; a success fades after SUCCESS_MS. A warning
 * (an operation that succeeded although a storage server failed it) stays too: it asks for attention.
 */
export interface Toast {
  id: number;
  kind: 'success' | 'warning' | 'error';
  text: string;
}

/** Long enough to read a file name twice, short enough not to pile up during a batch upload. */
const SUCCESS_MS = 6000;
/** Older notices drop off: a batch of 50 uploads must not cover the page. */
const MAX_SHOWN = 4;

class Toasts {
  items = $state<Toast[]>([]);
  #next = 1;

  show(kind: Toast['kind'], text: string): void {
    const id = this.#next++;
    this.items = [...this.items, { id, kind, text }].slice(-MAX_SHOWN);
    if (kind === 'success') setTimeout(() => this.dismiss(id), SUCCESS_MS);
  }

  success(text: string): void {
    this.show('success', text);
  }

  warning(text: string): void {
    this.show('warning', text);
  }

  error(text: string): void {
    this.show('error', text);
  }

  dismiss(id: number): void {
    this.items = this.items.filter((t) => t.id !== id);
  }
}

export const toasts = new Toasts();
