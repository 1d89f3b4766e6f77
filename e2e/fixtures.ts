/** Shared fixtures: where the stack started by global-setup.ts is listening, and a signed-in admin. */
import { test as base, type APIResponse, type Page } from '@playwright/test';

export interface Stack {
  url: string;
  relays: string[];
}

export const ADMIN = { email: 'admin@kofn.test', displayName: 'Ada Admin', password: 'correct horse battery' };

/** A signed-in user's page plus API calls carrying the Origin and CSRF headers the coordinator requires. */
export interface Session {
  page: Page;
  csrfToken: string;
  post: (path: string, data?: unknown) => Promise<APIResponse>;
  del: (path: string) => Promise<APIResponse>;
  get: (path: string) => Promise<APIResponse>;
}

/** The projects whose specs run on a further shared stack: shared-stack-N reads KOFN_E2E_*_N (playwright.config.ts, furtherSharedLanes). */
const FURTHER_SHARED_LANE = /^shared-stack-(\d+)$/;

export const test = base.extend<{ stack: Stack; admin: Session }, { sharedStackEnv: undefined }>({
  /**
   * A further shared lane's worker reads its own shared stack (global-setup.ts, KOFN_E2E_*_N) under the names
   * every spec and fixture reads: each project has workers of its own, so this changes nothing for the other
   * lanes. Without further stacks (KOFN_E2E_SERIAL=1) every lane uses the first.
   */
  sharedStackEnv: [
    // eslint-disable-next-line no-empty-pattern -- Playwright reads the first parameter as the fixture's dependencies: none.
    async ({}, use, workerInfo) => {
      const lane = FURTHER_SHARED_LANE.exec(workerInfo.project.name)?.[1];
      if (lane !== undefined && process.env[`KOFN_E2E_URL_${lane}`]) {
        for (const name of ['KOFN_E2E_URL', 'KOFN_E2E_RELAYS', 'KOFN_E2E_DATA_DIR']) process.env[name] = process.env[`${name}_${lane}`];
      }
      await use(undefined);
    },
    { scope: 'worker', auto: true }
  ],
  // Playwright reads a fixture's first parameter as an object pattern to learn its dependencies: none here.
  // eslint-disable-next-line no-empty-pattern
  stack: async ({}, use) => {
    const url = process.env.KOFN_E2E_URL;
    const relays = process.env.KOFN_E2E_RELAYS;
    if (!url || !relays) throw new Error('the kofn stack was not started (global-setup.ts)');
    await use({ url, relays: JSON.parse(relays) as string[] });
  },
  baseURL: async ({ stack }, use) => {
    await use(stack.url);
  },
  /** The admin, signed in through the API (set up on first use); the page's context holds the cookie. */
  admin: async ({ page, stack }, use) => {
    const origin = { Origin: stack.url };
    const { needed } = (await (await page.request.get('/api/setup')).json()) as { needed: boolean };
    const res = needed
      ? await page.request.post('/api/setup', { data: ADMIN, headers: origin })
      : await page.request.post('/api/login', { data: { email: ADMIN.email, password: ADMIN.password }, headers: origin });
    if (!res.ok()) throw new Error(`could not sign in the admin: ${res.status()} ${await res.text()}`);
    const { csrfToken } = (await res.json()) as { csrfToken: string };
    const headers = { ...origin, 'X-CSRF-Token': csrfToken };
    await use({
      page,
      csrfToken,
      post: (path, data) => page.request.post(path, { data: data ?? {}, headers }),
      del: (path) => page.request.delete(path, { headers }),
      get: (path) => page.request.get(path)
    });
  }
});

export { expect } from '@playwright/test';
