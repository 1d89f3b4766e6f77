import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    // Node 20 ships relaxed SIMD behind a flag; with it the suites cover both WASM builds
    // (gf256.test.ts compares them with the plain SIMD build and the JS fallback).
    execArgv: ['--experimental-wasm-relaxed-simd']
  }
});
