import adapter from '@sveltejs/adapter-node';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';
import { createHash } from 'node:crypto';

/**
 * SvelteKit's route announcer (@sveltejs/kit src/core/sync/write_root.js) is a div with this style
 * attribute; a style attribute passes CSP only by 'unsafe-inline' or, narrower, 'unsafe-hashes' plus its
 * hash (CSP3 §6.7.3.3). Without it every page logged a violation (issue #13 item 12); e2e/tests/csp.spec.ts
 * fails if a SvelteKit upgrade changes the text.
 */
const ANNOUNCER_STYLE = 'position: absolute; left: 0; top: 0; clip: rect(0 0 0 0); clip-path: inset(50%); overflow: hidden; white-space: nowrap; width: 1px; height: 1px';
const styleHash = (style) => `sha256-${createHash('sha256').update(style).digest('base64')}`;

/** @type {import('@sveltejs/kit').Config} */
const config = {
  preprocess: vitePreprocess(),
  kit: {
    adapter: adapter({ out: 'build' }),
    csp: {
      mode: 'hash',
      directives: {
        'default-src': ['self'],
        // The GF(256) kernel is WebAssembly compiled from bytes shipped in the bundle.
        'script-src': ['self', 'wasm-unsafe-eval'],
        'style-src': ['self', 'unsafe-hashes', styleHash(ANNOUNCER_STYLE)],
        'worker-src': ['self'],
        'manifest-src': ['self'],
        // Shares go straight from the browser to relays on other origins: hooks.server.ts adds the
        // registered relays' origins to each page's policy (csp.ts), so the build lists only this site.
        'connect-src': ['self'],
        // blob: the previews (issue #18): a file retrieved and authenticated in the page, shown from memory;
        // PDFs in a frame. Only this page makes such URLs (URL.createObjectURL), from its own plaintext. Frames
        // from 'self' stay allowed: a streamed download through the service worker is a same-origin frame (sinks.ts).
        'img-src': ['self', 'data:', 'blob:'],
        'frame-src': ['self', 'blob:'],
        // Audio and video previews play the same in-page blob: URLs (nothing else: default-src is 'self').
        'media-src': ['self', 'blob:'],
        'object-src': ['none'],
        'frame-ancestors': ['none'],
        'base-uri': ['self']
      }
    }
  }
};

export default config;
