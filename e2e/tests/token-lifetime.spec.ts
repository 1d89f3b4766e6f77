/**
 * Issue #14: tokens are renewed during long transfers. A coordinator of this file's own stack hands out
 * relay tokens that live 10 s (KOFN_TOKEN_TTL_SECONDS; relays allow 5 s of clock skew, so 15 s), and
 * relay-2 sits behind a loopback proxy (e2e/hostile-proxy.ts) that paces share bodies to 512 KiB/s, so
 * protecting and retrieving 32 MiB with (2,2) takes about a minute: four token lifetimes. Both must
 * complete byte-identical, every relay request after the first lifetime carrying a token minted later.
 */
import { test, expect } from '../fixtures.js';
import type { HostileProxy } from '../hostile-proxy.js';
import { startProxiedStack, type ProxiedStack } from '../proxied-stack.js';
import { chooseSharing, makeFile, openAsNewAdmin, opfsSha256, protectThroughUi, ready, retrieveThroughUi } from '../helpers.js';
import type { Page } from '@playwright/test';

test.describe.configure({ mode: 'default', timeout: 300_000 });

const TTL_S = 10;
/** What a relay accepts past `exp` (relay/src/auth.ts clockTolerance). */
const SKEW_S = 5;
const RATE = 512 * 1024;
const SIZE = 32 * 1024 * 1024 + 123;
let proxied: ProxiedStack;
let proxy: HostileProxy;
let page: Page;
/** Protected before the link is slowed, then retrieved over the slow link. */
const FILE = { name: 'slow-link.bin', file: makeFile('slow-link.bin', SIZE) };
/** Protected over the slow link. */
const UP = { name: 'slow-upload.bin', file: makeFile('slow-upload.bin', SIZE) };

/** The claims of a capability token, read without verifying it: the relay did that. */
const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { iat: number; exp: number };

const ok = (status: number | undefined) => status === 200 || status === 201;

/**
 * The share requests of `method` relay-2 saw since `startedAt`: they span several token lifetimes, relay-2
 * refused some as expired (the pacing did make the transfer outlast its tokens), and each refused request
 * was sent again with a token minted after it, which the relay accepted.
 */
function expectRenewedThroughout(method: string, startedAt: number): void {
  const seen = proxy.tokens.filter((t) => t.method === method && t.at >= startedAt);
  expect(seen.length).toBeGreaterThan(8);
  const took = seen.at(-1)!.at - seen[0]!.at;
  expect(took).toBeGreaterThan(3 * (TTL_S + SKEW_S) * 1000);
  const distinct = new Set(seen.map((t) => t.token));
  expect(distinct.size).toBeGreaterThanOrEqual(3);
  for (const t of distinct) expect(claims(t).exp - claims(t).iat).toBe(TTL_S);
  const refused = seen.filter((t) => t.status === 401);
  expect(refused.length).toBeGreaterThan(0);
  for (const r of refused) {
    const again = seen.find((t) => t.path === r.path && t.at >= r.at && ok(t.status) && claims(t.token).iat > claims(r.token).iat);
    expect(again, `${r.path} refused at ${r.at} was never sent again with a fresher token`).toBeDefined();
  }
  expect(seen.filter((t) => !ok(t.status) && t.status !== 401)).toEqual([]);
  console.log(
    `${method}: ${seen.length} share requests over ${Math.round(took / 1000)} s, ${refused.length} refused as expired, ${distinct.size} distinct tokens (lifetime ${TTL_S} s + ${SKEW_S} s skew)`
  );
}

test.beforeAll(async ({ browser }) => {
  test.setTimeout(240_000);
  proxied = await startProxiedStack({ relays: 2, tier: 'Pro', env: { KOFN_TOKEN_TTL_SECONDS: String(TTL_S) } });
  proxy = proxied.proxy;
  page = await openAsNewAdmin(browser, proxied.stack.url);
  // Each test stands alone (either fails on its own when tokens are not renewed): the file to retrieve
  // is protected at full speed first.
  await chooseSharing(page, 2, 2);
  await protectThroughUi(page, FILE.file, FILE.name);
  proxy.rate = RATE;
});

test.afterAll(async () => {
  await page?.context().close();
  await proxied?.stop();
});

test('a protect throttled to outlast its upload tokens several times completes', async () => {
  await page.reload();
  await chooseSharing(page, 2, 2);
  const t = Date.now();
  await protectThroughUi(page, UP.file, UP.name);
  expectRenewedThroughout('PUT', t);
});

test('a retrieval throttled to outlast its read tokens several times completes byte-identical', async () => {
  await page.reload();
  await ready(page);
  const t = Date.now();
  await retrieveThroughUi(page, FILE.name);
  const transfer = page
    .getByTestId('transfer')
    .filter({ hasText: `Retrieving ${FILE.name}` })
    .first();
  await expect(transfer, await transfer.innerText()).toHaveAttribute('data-status', 'done');
  expect(await opfsSha256(page, FILE.name)).toBe(FILE.file.sha256);
  expectRenewedThroughout('GET', t);
});
