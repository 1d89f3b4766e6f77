/**
 * Trusted reverse-proxy mode (Authelia, oauth2-proxy): only when configured, and only for requests from
 * the configured proxy addresses, does Remote-Email name the user.
 */
import { request as httpRequest } from 'node:http';
import { test, expect } from '../fixtures.js';
import { startStack, type RunningStack } from '../stack.js';

/**
 * GET `path` on `base` from the loopback address `from` (all of 127/8 is this machine on Linux), so the
 * coordinator sees a client other than the configured proxy. Playwright's request API cannot choose its
 * source address; node:http can.
 */
function getFrom(from: string, base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = httpRequest(new URL(path, base), { localAddress: from, headers }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (body += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} from ${from}: no answer in 10 s`)));
    req.on('error', rej);
    req.end();
  });
}

let trusting: RunningStack;
test.beforeAll(async () => {
  // Starting a stack of its own (a coordinator and relays) can take over a minute on a loaded 2-core machine.
  test.setTimeout(180_000);
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

  // Proxies configured, but this client is not one of them (127.0.0.2, not 127.0.0.1): the header is
  // ignored, though it names a user the proxy signed in a moment ago (issue #24, survivor 2).
  const elsewhere = await getFrom('127.0.0.2', trusting.url, '/api/session', { 'Remote-Email': 'dora@example.org', 'Remote-Name': 'Dora' });
  expect(elsewhere.status).toBe(401);
  expect(JSON.parse(elsewhere.body)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
  // The same request from the proxy's address is accepted: the source address alone made the difference.
  expect((await getFrom('127.0.0.1', trusting.url, '/api/session', { 'Remote-Email': 'dora@example.org' })).status).toBe(200);

  // The shared stack has no trusted proxies: the same header means nothing there.
  const plain = await playwright.request.newContext({ baseURL: stack.url, extraHTTPHeaders: { 'Remote-Email': 'admin@kofn.test' } });
  expect((await plain.get('/api/session')).status()).toBe(401);
  await plain.dispose();
});
