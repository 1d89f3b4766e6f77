/**
 * The shared stack for the suite: coordinator + five relays under a Pro licence (five relays need it),
 * stopped by PID when the suite ends. Tests that stop relays start their own (e2e/stack.ts).
 * Beside it, the empty PGlite folder every private stack starts from (makePgliteTemplate); the shared
 * stack's coordinator creates its own, so one real first start (PGlite's initdb) stays in every run.
 */
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { TEMPLATE_ENV, makePgliteTemplate, startStack } from './stack.js';

export default async function globalSetup(): Promise<() => Promise<void>> {
  const [started, made] = await Promise.allSettled([startStack({ relays: 5, tier: 'Pro', freshDatabase: true }), makePgliteTemplate()]);
  if (started.status === 'rejected' || made.status === 'rejected') {
    // Leave nothing running or behind when either failed.
    if (started.status === 'fulfilled') await started.value.stop();
    if (made.status === 'fulfilled') rmSync(dirname(made.value), { recursive: true, force: true });
    throw started.status === 'rejected' ? started.reason : (made as PromiseRejectedResult).reason;
  }
  const stack = started.value;
  const template = made.value;
  process.env.KOFN_E2E_URL = stack.url;
  process.env.KOFN_E2E_RELAYS = JSON.stringify(stack.relays);
  process.env.KOFN_E2E_DATA_DIR = stack.dataDir;
  process.env[TEMPLATE_ENV] = template;
  return async () => {
    await stack.stop();
    rmSync(dirname(template), { recursive: true, force: true });
  };
}
