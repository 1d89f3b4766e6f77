/**
 * Issue #13, item 7, over HTTP against the built app: the login throttle answers 429 RATE_LIMITED with
 * Retry-After, a spoofed X-Forwarded-For does not buy fresh attempts (no ADDRESS_HEADER is configured, so
 * the socket address counts), and failures on one account never block another account from the same address.
 */
import { randomUUID } from 'node:crypto';
import { test, expect, ADMIN } from '../fixtures.js';

test('429 with Retry-After after the free attempts; forged forwarding headers and other accounts unaffected', async ({ admin, playwright, stack }) => {
  expect((await admin.get('/api/session')).status()).toBe(200);
  const anon = await playwright.request.newContext({ baseURL: stack.url });
  const h = { Origin: stack.url };
  const target = `ghost-${randomUUID()}@kofn.test`;
  for (let i = 0; i < 5; i++) {
    const res = await anon.post('/api/login', { data: { email: target, password: `guess ${i}` }, headers: h });
    expect(res.status()).toBe(401);
  }
  const forged: Array<Record<string, string>> = [{}, { 'X-Forwarded-For': '198.51.100.9' }, { 'X-Real-IP': '198.51.100.10', Forwarded: 'for=198.51.100.11' }];
  for (const extra of forged) {
    const res = await anon.post('/api/login', { data: { email: target, password: 'guess 6' }, headers: { ...h, ...extra } });
    expect(res.status(), JSON.stringify(extra)).toBe(429);
    expect(Number(res.headers()['retry-after'])).toBeGreaterThanOrEqual(1);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('RATE_LIMITED');
  }
  // Same address, another account: signs in.
  const ok = await anon.post('/api/login', { data: { email: ADMIN.email, password: ADMIN.password }, headers: h });
  expect(ok.status()).toBe(200);
  await anon.dispose();
});
