/**
 * Module worker for the Chromium run of the suite: the bench page starts it, it runs the suite with
 * privy's package (served by the bench's server) as baseline and posts the result back.
 */
import { runSuite, type PrivyCombine, type PrivySplit } from './suite.js';

interface PrivyModule {
  split: PrivySplit;
  combine: PrivyCombine;
}

const scope = globalThis as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage: (m: unknown) => void };

async function run(): Promise<void> {
  try {
    const privyUrl = '/privy/index.js';
    const privy = (await import(privyUrl)) as PrivyModule;
    const result = await runSuite(`chromium worker (${/Chrome\/[\d.]+/.exec(navigator.userAgent)?.[0] ?? 'chromium'})`, privy, (s) => scope.postMessage({ progress: s }));
    scope.postMessage({ result });
  } catch (err) {
    scope.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
}

scope.onmessage = () => void run();
