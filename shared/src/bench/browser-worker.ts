/**
 * Module worker for the Chromium run of the suite: the bench page starts it, it runs the suite with
 * privy's package (served by the bench's server) as baseline and posts the result back.
 */
import { runCompactBench } from './compact-suite.js';
import { runSuite, type PrivyCombine, type PrivySplit } from './suite.js';

interface PrivyModule {
  split: PrivySplit;
  combine: PrivyCombine;
}

const scope = globalThis as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage: (m: unknown) => void };

/** 'run': the kernel suite; 'compact': compact mode against Shamir (compact-suite.ts). */
async function run(what: unknown): Promise<void> {
  try {
    const env = `chromium worker (${/Chrome\/[\d.]+/.exec(navigator.userAgent)?.[0] ?? 'chromium'})`;
    const progress = (s: string): void => scope.postMessage({ progress: s });
    if (what === 'compact') {
      scope.postMessage({ result: await runCompactBench(env, 5, progress) });
      return;
    }
    const privyUrl = '/privy/index.js';
    const privy = (await import(privyUrl)) as PrivyModule;
    const result = await runSuite(env, privy, progress);
    scope.postMessage({ result });
  } catch (err) {
    scope.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
}

scope.onmessage = (e) => void run(e.data);
