/**
 * Puts the share workers under a service worker of their own, one without a fetch handler (see
 * static/share-workers-sw.js for why). A dedicated worker loaded from a URL is controlled by the
 * registration whose scope matches that URL best (https://w3c.github.io/ServiceWorker/#control-and-use-worker-client),
 * so the registration must be active before the pool starts workers; workers started earlier stay under
 * the app's service worker. Where service workers are missing or refused this does nothing: transfers
 * work the same, only Chromium's memory grows.
 */
import { base } from '$app/paths';

/** Where SvelteKit puts bundled workers (`${appDir}/immutable/workers/`, appDir left at its default). */
// `base` is deprecated for resolve() and asset(), which type only routes and static files: a worker scope is neither.
// eslint-disable-next-line @typescript-eslint/no-deprecated
const BASE = base;
export const SHARE_WORKER_SCOPE = `${BASE}/_app/immutable/workers/`;
const SCRIPT = `${BASE}/share-workers-sw.js`;
/** Longest wait for the registration to activate before workers start anyway. */
const READY_TIMEOUT_MS = 5000;

let ready: Promise<void> | undefined;

function activated(reg: ServiceWorkerRegistration): Promise<void> {
  const sw = reg.installing ?? reg.waiting ?? reg.active;
  if (!sw || sw.state === 'activated') return Promise.resolve();
  return new Promise((res) => {
    const check = () => {
      if (sw.state === 'activated' || sw.state === 'redundant') {
        sw.removeEventListener('statechange', check);
        res();
      }
    };
    sw.addEventListener('statechange', check);
  });
}

async function register(): Promise<void> {
  // navigator.serviceWorker exists only in secure contexts, which the DOM types do not say.
  if (typeof navigator === 'undefined' || !('serviceWorker' in navigator)) return;
  try {
    const reg = await navigator.serviceWorker.register(SCRIPT, { scope: SHARE_WORKER_SCOPE });
    await Promise.race([activated(reg), new Promise((r) => setTimeout(r, READY_TIMEOUT_MS))]);
  } catch (err) {
    // Refused (private mode, policy): transfers still work, see above.
    console.warn('kofn: share workers run under the app service worker:', (err as Error).message);
  }
}

/** Resolves once the share workers' own service worker is active (or could not be had). */
export function shareWorkerScopeReady(): Promise<void> {
  ready ??= register();
  return ready;
}
