import adapter from '@sveltejs/adapter-node';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

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
        'worker-src': ['self'],
        'manifest-src': ['self'],
        // Shares go straight from the browser to relays on other origins.
        'connect-src': ['self', 'http:', 'https:'],
        'img-src': ['self', 'data:'],
        'object-src': ['none'],
        'frame-ancestors': ['none'],
        'base-uri': ['self']
      }
    }
  }
};

export default config;
