/**
 * A part of the app that fails to load used to end on SvelteKit's "500 Internal Error" page, with nothing
 * wrong on the server: a route's code is fetched while the page hydrates, and the fetch can fail (a network
 * change: Chromium cuts every load in flight, loopback ones too, when the host's addresses change, as when
 * Docker adds a network; or a newer version replaced the files). Vite announces such a failure as
 * `vite:preloadError` (Vite's guide, "Load Error Handling"); the page is then loaded again, at most once a
 * minute, so that a part that keeps failing still ends on the error page instead of reloading forever.
 */
const RELOADED_AT = 'kofn:reloaded-after-load-error';
const RELOAD_AT_MOST_EVERY_MS = 60_000;

function mayReload(now: number): boolean {
  try {
    if (now - Number(sessionStorage.getItem(RELOADED_AT) ?? 0) < RELOAD_AT_MOST_EVERY_MS) return false;
    sessionStorage.setItem(RELOADED_AT, String(now));
    return true;
  } catch {
    // No storage to remember the last reload in: the error page, rather than a possible loop.
    return false;
  }
}

window.addEventListener('vite:preloadError', (event) => {
  if (!mayReload(Date.now())) return;
  event.preventDefault();
  location.reload();
});
