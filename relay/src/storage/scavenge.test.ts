/**
 * Scavenges paced by bytes received (scavenge.ts): off unless turned on, one per SCAVENGE_EVERY_BYTES, and
 * in the relay process (runtime-tuning.ts) a real minor GC, with no `gc` left on the relay's global.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCAVENGE_EVERY_BYTES, bytesReceived, paceScavenges } from './scavenge.js';

describe('scavenge pacing', () => {
  it('asks for one collection per SCAVENGE_EVERY_BYTES received, counting across uploads', () => {
    // Off until turned on: bytes received before cost nothing and are not counted.
    bytesReceived(10 * SCAVENGE_EVERY_BYTES);
    let runs = 0;
    paceScavenges(() => runs++);
    const piece = 64 * 1024;
    for (let i = 0; i < (3 * SCAVENGE_EVERY_BYTES) / piece - 1; i++) bytesReceived(piece);
    expect(runs).toBe(2);
    bytesReceived(piece);
    expect(runs).toBe(3);
  });

  it('runs a real minor GC in the relay process, and leaves no gc() on its global', () => {
    const dist = join(import.meta.dirname, '..', '..', 'dist');
    // A child process: the flags runtime-tuning.ts sets must not leak into this test process.
    const script = `
      import { PerformanceObserver, constants } from 'node:perf_hooks';
      await import(${JSON.stringify(join(dist, 'runtime-tuning.js'))});
      const { bytesReceived, SCAVENGE_EVERY_BYTES } = await import(${JSON.stringify(join(dist, 'storage', 'scavenge.js'))});
      const kinds = [];
      const obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) kinds.push(e.detail.kind); });
      obs.observe({ entryTypes: ['gc'] });
      await new Promise((r) => setTimeout(r, 50));
      kinds.length = 0;
      for (let i = 0; i < 5; i++) bytesReceived(SCAVENGE_EVERY_BYTES);
      await new Promise((r) => setTimeout(r, 50));
      obs.disconnect();
      console.log(JSON.stringify({ minor: kinds.filter((k) => k === constants.NODE_PERFORMANCE_GC_MINOR).length, globalGc: typeof globalThis.gc }));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { minor: number; globalGc: string };
    // Five asked for in a row, in 50 ms of an otherwise idle process.
    expect(out.minor).toBeGreaterThanOrEqual(5);
    expect(out.globalGc).toBe('undefined');
  });
});
