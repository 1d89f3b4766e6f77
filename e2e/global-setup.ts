/**
 * The shared stack for the suite: coordinator + five relays under a Pro licence (five relays need it),
 * stopped by PID when the suite ends. Tests that stop relays start their own (e2e/stack.ts).
 */
import { startStack } from './stack.js';

export default async function globalSetup(): Promise<() => Promise<void>> {
  const stack = await startStack({ relays: 5, tier: 'Pro' });
  process.env.KOFN_E2E_URL = stack.url;
  process.env.KOFN_E2E_RELAYS = JSON.stringify(stack.relays);
  process.env.KOFN_E2E_DATA_DIR = stack.dataDir;
  return stack.stop;
}
