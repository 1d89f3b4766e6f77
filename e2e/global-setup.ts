/**
 * The shared stack for the suite: coordinator + five relays under a Pro licence (five relays need it),
 * stopped by PID when the suite ends. Tests that stop relays start their own (e2e/stack.ts).
 * Beside it, the empty PGlite folder every private stack starts from (pgliteTemplate, made once and kept);
 * the shared stack's coordinator creates its own, so one real first start (PGlite's initdb) stays in every run.
 */
import { TEMPLATE_ENV, pgliteTemplate, startStack } from './stack.js';

export default async function globalSetup(): Promise<() => Promise<void>> {
  const [started, made] = await Promise.allSettled([startStack({ relays: 5, tier: 'Pro', freshDatabase: true }), pgliteTemplate()]);
  if (made.status === 'rejected') {
    // Leave nothing running when either failed.
    if (started.status === 'fulfilled') await started.value.stop();
    throw made.reason;
  }
  if (started.status === 'rejected') throw started.reason;
  const stack = started.value;
  process.env.KOFN_E2E_URL = stack.url;
  process.env.KOFN_E2E_RELAYS = JSON.stringify(stack.relays);
  process.env.KOFN_E2E_DATA_DIR = stack.dataDir;
  process.env[TEMPLATE_ENV] = made.value;
  return stack.stop;
}
