// kofn: the service worker for the share workers' folder (/_app/immutable/workers/), registered by
// src/lib/engine/worker-scope.ts. It has no fetch handler on purpose: a share worker inside this scope is
// controlled by it instead of by the app's service worker, so the share chunks it PUTs to relays never
// pass a fetch handler. Chromium 156 keeps the body of every request a dedicated worker makes under a
// service worker with a fetch handler (measured: 900 MiB of PUT bodies still held by the browser process
// after the workers had ended; with this worker in place, none).
self.addEventListener('install', () => self.skipWaiting());
