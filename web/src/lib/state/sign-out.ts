/**
 * Signing out of this browser (issue #13 item 10): unfinished uploads keep the plaintext File and its
 * MAC key in IndexedDB to resume them, so sign-out stops every transfer, drops the reservations while
 * still signed in, and removes every stored upload before ending the session. The page asks first when
 * there are any (`unfinishedUploads`).
 */
import { api, setCsrfToken } from '$lib/api';
import { countUploads, discardAllUploads } from '$lib/engine/upload-store';
import { transfers } from '$lib/state/transfers.svelte';

/** Uploads sign-out would discard: those stored in this browser, or running here and not stored yet. */
export async function unfinishedUploads(): Promise<number> {
  const running = transfers.items.filter((t) => t.kind === 'protect' && t.status === 'running').length;
  return Math.max(running, await countUploads().catch(() => 0));
}

export async function signOut(): Promise<void> {
  for (const g of Object.values(transfers.groups)) g.controller.abort();
  for (const t of transfers.items) if (t.status === 'running') t.controller.abort();
  // The next user of this tab (sign-in navigates without a reload) must not see these files' names.
  transfers.clearAll();
  const discarded = await discardAllUploads();
  // Best effort: a reservation left behind is removed by the coordinator's cleanup job anyway, and one
  // another user started answers 404 here.
  await Promise.all(discarded.map((id) => api('DELETE', `/api/files/${id}`).catch(() => undefined)));
  await api('POST', '/api/logout').catch(() => undefined);
  setCsrfToken(null);
}
