/// <reference types="@sveltejs/kit" />
/// <reference no-default-lib="true"/>
/// <reference lib="esnext" />
/// <reference lib="webworker" />
/**
 * kofn's service worker: the app shell works offline (built assets and static files, cached per
 * version), and streamed downloads for browsers without the File System Access API. It never caches API
 * answers, shares or plaintext: only files of this build are ever put in the cache.
 * Download messages follow mozilla/send's serviceWorker.js: 'download' opens a stream, then 'chunk' |
 * 'end' | 'abort' on its MessagePort.
 */
import { build, files, version } from '$service-worker';

const sw = self as unknown as ServiceWorkerGlobalScope;
const CACHE = `kofn-shell-${version}`;
const SHELL = [...build, ...files];
const DOWNLOAD_PREFIX = '/__kofn_download/';

sw.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(SHELL))
      .then(() => sw.skipWaiting())
  );
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => sw.clients.claim())
  );
});

interface PendingDownload {
  name: string;
  /** Undefined: not known ahead (a zip built as it streams), so no Content-Length. */
  size: number | undefined;
  mime: string;
  stream: ReadableStream<Uint8Array>;
}
const downloads = new Map<string, PendingDownload>();

sw.addEventListener('message', (event) => {
  const data = event.data as { type?: string; id?: string; name?: string; size?: number; mime?: string };
  if (data.type !== 'download' || !data.id || !event.ports[0]) return;
  const port = event.ports[0];
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      port.onmessage = (e) => {
        const m = e.data as { type: 'chunk' | 'end' | 'abort' | 'keepalive'; chunk?: Uint8Array };
        if (m.type === 'chunk' && m.chunk) controller.enqueue(m.chunk);
        else if (m.type === 'end') controller.close();
        else if (m.type === 'abort') controller.error(new Error('download aborted'));
      };
    },
    cancel() {
      port.postMessage({ type: 'cancelled' });
    }
  });
  downloads.set(data.id, {
    name: data.name ?? 'download',
    size: typeof data.size === 'number' && Number.isSafeInteger(data.size) && data.size >= 0 ? data.size : undefined,
    mime: data.mime ?? 'application/octet-stream',
    stream
  });
  port.postMessage({ type: 'ready' });
});

function downloadResponse(d: PendingDownload): Response {
  const ascii = d.name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return new Response(d.stream, {
    headers: {
      'Content-Type': d.mime,
      ...(d.size === undefined ? {} : { 'Content-Length': String(d.size) }),
      'Content-Disposition': `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(d.name)}`,
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'none'",
      'Cache-Control': 'no-store'
    }
  });
}

sw.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (url.origin !== sw.location.origin || req.method !== 'GET') return;
  if (url.pathname.startsWith(DOWNLOAD_PREFIX)) {
    const d = downloads.get(url.pathname.slice(DOWNLOAD_PREFIX.length));
    if (!d) {
      event.respondWith(new Response('Unknown download', { status: 404 }));
      return;
    }
    downloads.delete(url.pathname.slice(DOWNLOAD_PREFIX.length));
    event.respondWith(downloadResponse(d));
    return;
  }
  if (url.pathname.startsWith('/api/')) return; // never cached
  if (SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(req).then((hit) => hit ?? fetch(req)));
    return;
  }
  // Pages: network first, the cached shell when offline.
  if (req.mode === 'navigate') {
    event.respondWith(fetch(req).catch(async () => (await caches.match('/offline.html')) ?? new Response('kofn is offline.', { status: 503, headers: { 'Content-Type': 'text/plain' } })));
  }
});
