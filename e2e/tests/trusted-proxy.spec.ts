/**
 * Trusted reverse-proxy mode (Authelia, oauth2-proxy): only when configured, and only for requests from
 * the configured proxy addresses, does Remote-Email name the user.
 */
import { test, expect } from '../fixtures.js';
import { startStack, type RunningStack } from '../stack.js';

let trusting: RunningStack;
test.beforeAll(async () => {
  // This test's client is the "proxy": it connects from 127.0.0.1.
  trusting = await startStack({ relays: 2, tier: 'Essential', env: { KOFN_TRUSTED_PROXIES: '127.0.0.1' } });
});
test.afterAll(async () => {
  await trusting?.stop();
});

test('Remote-Email from a configured proxy address signs the user in; elsewhere it is ignored', async ({ playwright, stack }) => {
  const viaProxy = await playwright.request.newContext({ baseURL: trusting.url, extraHTTPHeaders: { 'Remote-Email': 'Dora@Example.org', 'Remote-Name': 'Dora' } });
  const session = await viaProxy.get('/api/session');
  expect(session.status()).toBe(200);
  expect(((await session.json()) as { user: { email: string; displayName: string } }).user).toMatchObject({ email: 'dora@example.org', displayName: 'Dora' });
  // No cookie session: state-changing requests still need this site's Origin.
  expect((await viaProxy.post('/api/files', { data: { name: 'p.bin', size: 0, k: 2 } })).status()).toBe(403);
  expect((await viaProxy.post('/api/files', { data: { name: 'p.bin', size: 0, k: 2 }, headers: { Origin: trusting.url } })).status()).toBe(201);
  const bad = await viaProxy.get('/api/session', { headers: { 'Remote-Email': 'not an e-mail' } });
  expect(bad.status()).toBe(401);
  await viaProxy.dispose();

  // The shared stack has no trusted proxies: the same header means nothing there.
  const plain = await playwright.request.newContext({ baseURL: stack.url, extraHTTPHeaders: { 'Remote-Email': 'admin@kofn.test' } });
  expect((await plain.get('/api/session')).status()).toBe(401);
  await plain.dispose();
});
