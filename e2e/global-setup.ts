/**
 * The shared stacks for the suite: each a coordinator + five relays under a Pro licence (five relays need it),
 * stopped by PID when the suite ends. Tests that stop relays start their own (e2e/stack.ts).
 * One per shared lane (playwright.config.ts, furtherSharedLanes): the specs that share a stack run one at a time
 * on it, and one lane of them took 35 minutes of test time in a CPU-bound CI run, the suite's critical path; each
 * further lane has a stack of its own (KOFN_E2E_*_N, put in place for its worker by fixtures.ts).
 * KOFN_E2E_SERIAL=1 starts one and runs every lane on it.
 * Beside them, the PGlite folder (schema, no rows) every private stack and the further shared stacks start from
 * (pgliteTemplate, made once and kept); the first shared stack's coordinator creates its own, so one real first
 * start (initdb and migrations) stays in every run.
 */
import { furtherSharedLanes } from '../playwright.config.js';
import { TEMPLATE_ENV, pgliteTemplate, startStack } from './stack.js';

export default async function globalSetup(): Promise<() => Promise<void>> {
  const count = process.env.KOFN_E2E_SERIAL === '1' ? 1 : 1 + furtherSharedLanes.length;
  // The first shared stack makes its database from nothing; the further ones start from the template, made
  // meanwhile (each initdb and migration run cost a loaded CI machine seconds of CPU, and one proves the path).
  const template = pgliteTemplate();
  const starting = [
    startStack({ relays: 5, tier: 'Pro', freshDatabase: true }),
    ...Array.from({ length: count - 1 }, async () => {
      process.env[TEMPLATE_ENV] = await template;
      return startStack({ relays: 5, tier: 'Pro' });
    })
  ];
  const [templates, started] = await Promise.all([Promise.allSettled([template]), Promise.allSettled(starting)]);
  const [made] = templates;
  const stacks = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stopAll = async (): Promise<void> => {
    await Promise.all(stacks.map((s) => s.stop()));
  };
  // Leave nothing running when any of them failed.
  const failed = [made, ...started].find((s) => s.status === 'rejected');
  if (failed || made.status !== 'fulfilled') {
    await stopAll();
    throw failed?.reason;
  }
  stacks.forEach((stack, i) => {
    const suffix = i === 0 ? '' : `_${i + 1}`;
    process.env[`KOFN_E2E_URL${suffix}`] = stack.url;
    process.env[`KOFN_E2E_RELAYS${suffix}`] = JSON.stringify(stack.relays);
    process.env[`KOFN_E2E_DATA_DIR${suffix}`] = stack.dataDir;
  });
  process.env[TEMPLATE_ENV] = made.value;
  return stopAll;
}
