/**
 * What the specs of a retrieval paced through a slow relay while its file is renewed share
 * (renewal-download, renewal-download-drop, renewal-download-replace): the stack's settings, the file as the
 * coordinator lists it, its transfer row, and the epoch a relay read token names.
 */
import { expect, type Locator, type Page } from '@playwright/test';

/**
 * Settings for a stack whose retrieval is paced: short read tokens (renewed several times per download), the
 * old epoch dropped `graceS` after the switch (a build made for tests honours it; the product keeps 16
 * minutes), and relay timeouts well past the paced waits: Chromium keeps 6 connections to the slow relay and
 * times a queued response's wait for headers too.
 */
export function pacedStackEnv(ttlS: number, graceS?: number): Record<string, string> {
  return {
    KOFN_TOKEN_TTL_SECONDS: String(ttlS),
    ...(graceS === undefined ? {} : { KOFN_TEST_RENEWAL_GRACE_SECONDS: String(graceS) }),
    KOFN_RELAY_TIMEOUT_HEADERS: '180',
    KOFN_RELAY_TIMEOUT_IDLE: '180'
  };
}

/** Claims of a capability token, read without verifying it (the relay did that). */
export const tokenClaims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { iat: number; exp: number; ep?: number };

/** The epoch a relay token names (absent: epoch 0). */
export const epochOf = (token: string): number => tokenClaims(token).ep ?? 0;

export interface ListedFile {
  id: string;
  name: string;
  epoch: number;
  lastRenewal: string | null;
}

/** The file named `name` as the signed-in page's `GET /api/files` lists it. */
export async function listedFile(page: Page, name: string): Promise<ListedFile> {
  const res = await page.request.get('/api/files');
  expect(res.status()).toBe(200);
  const { files } = (await res.json()) as { files: ListedFile[] };
  return files.find((f) => f.name === name)!;
}

/** The transfer row of the page's retrieval of `name`. */
export const retrievalRow = (page: Page, name: string): Locator =>
  page
    .getByTestId('transfer')
    .filter({ hasText: `Retrieving ${name}` })
    .first();
