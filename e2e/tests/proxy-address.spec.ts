/**
 * Behind a reverse proxy (issue #13, item 7): with adapter-node's ADDRESS_HEADER=X-Forwarded-For and
 * XFF_DEPTH=1 the login throttle counts the forwarded client address, so clients behind one proxy do not
 * share one throttle; a request without the header (not through the proxy) is throttled by its socket
 * address instead of failing; and the trusted-proxy check (KOFN_TRUSTED_PROXIES) still looks at the
 * socket, so a client that names the proxy's address in X-Forwarded-For cannot name a user in Remote-Email.
 */
import { test, expect } from '../fixtures.js';
import { startStack, type RunningStack } from '../stack.js';

const PROXY = '198.51.100.7';
const OWNER = { email: 'owner@proxied.test', displayName: 'Owner', password: 'owner password 1' };
let proxied: RunningStack;

test.beforeAll(async () => {
  // Starting a stack of its own (a coordinator and relays) can take over a minute on a loaded 2-core machine.
  test.setTimeout(180_000);
  proxied = await startStack({ relays: 2, tier: 'Essential', env: { ADDRESS_HEADER: 'X-Forwarded-For', XFF_DEPTH: '1', KOFN_TRUSTED_PROXIES: PROXY } });
});
test.afterAll(async () => {
  await proxied?.stop();
});

test('a forged X-Forwarded-For naming the trusted proxy does not make Remote-Email count', async ({ playwright }) => {
  const direct = await playwright.request.newContext({ baseURL: proxied.url });
  const forged = await direct.get('/api/session', { headers: { 'X-Forwarded-For': PROXY, 'Remote-Email': 'admin@proxied.test' } });
  expect(forged.status()).toBe(401);
  await direct.dispose();
});

test('the throttle counts the forwarded client address, and the socket address without the header', async ({ playwright }) => {
  const origin = { Origin: proxied.url };
  // Each attempt from a client of its own, without the cookie (and so the CSRF duty) an earlier sign-in left.
  const attempt = async (password: string, xff?: string) => {
    const client = await playwright.request.newContext({ baseURL: proxied.url });
    const res = await client.post('/api/login', { data: { email: OWNER.email, password }, headers: xff ? { ...origin, 'X-Forwarded-For': xff } : origin });
    const out = { status: () => res.status(), headers: () => res.headers() };
    await client.dispose();
    return out;
  };
  const setup = await playwright.request.newContext({ baseURL: proxied.url });
  expect((await setup.post('/api/setup', { data: OWNER, headers: { ...origin, 'X-Forwarded-For': '203.0.113.1' } })).status()).toBe(201);
  await setup.dispose();
  // Five free failures, then each one more doubles the wait (login-throttle.ts: 1 s, 2 s, 4 s). Seven counted
  // failures, each after the wait the last one set: the right password then comes inside a 4 s wait. After
  // five only (a 1 s wait), a CI run's loaded machine took over a second to send the sixth attempt, which was
  // then rightly let through.
  for (let i = 0; i < 7; i++) {
    const res = await attempt(`wrong ${i}`, '203.0.113.66');
    if (i < 5 || res.status() === 401) {
      expect(res.status()).toBe(401);
      continue;
    }
    expect(res.status()).toBe(429);
    await new Promise((r) => setTimeout(r, Number(res.headers()['retry-after']) * 1000));
    i--;
  }
  const throttled = await attempt(OWNER.password, '203.0.113.66');
  expect(throttled.status()).toBe(429);
  expect(Number(throttled.headers()['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(Number(throttled.headers()['retry-after'])).toBeLessThanOrEqual(4);
  // Another client behind the same proxy signs in.
  expect((await attempt(OWNER.password, '203.0.113.2')).status()).toBe(200);
  // No header: the request did not come through the proxy; it gets an answer (not a 500), counted by its socket.
  expect((await attempt('wrong direct')).status()).toBe(401);
  expect((await attempt(OWNER.password)).status()).toBe(200);
});
