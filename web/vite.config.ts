import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [sveltekit()],
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    // Database suites open PGlite and PostgreSQL; one file at a time keeps 2 cores responsive.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000
  }
});
