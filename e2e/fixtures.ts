/** Shared fixtures: where the stack started by global-setup.ts is listening. */
import { test as base } from '@playwright/test';

export interface Stack {
  url: string;
  relays: string[];
}

export const test = base.extend<{ stack: Stack }>({
  stack: async ({}, use) => {
    const url = process.env.KOFN_E2E_URL;
    const relays = process.env.KOFN_E2E_RELAYS;
    if (!url || !relays) throw new Error('the kofn stack was not started (global-setup.ts)');
    await use({ url, relays: JSON.parse(relays) as string[] });
  },
  baseURL: async ({ stack }, use) => {
    await use(stack.url);
  }
});

export { expect } from '@playwright/test';
