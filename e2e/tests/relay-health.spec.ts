import { test, expect } from '../fixtures.js';

test('every relay answers its health endpoint', async ({ request, stack }) => {
  const ids = new Set<string>();
  for (const url of stack.relays) {
    const res = await request.get(`${url}/v1/health`);
    expect(res.status()).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.name).toMatch(/^relay-\d$/);
    expect(body.storage).toBe('Disk');
    expect(typeof body.freeBytes).toBe('number');
    expect(body.freeBytes as number).toBeGreaterThan(0);
    ids.add(body.id as string);
  }
  expect(ids.size).toBe(stack.relays.length);
});

test('a page on the app origin can ping a relay across origins; another origin cannot read it', async ({ page, stack }) => {
  await page.goto('/');
  const relay = stack.relays[0]!;
  const status = await page.evaluate(async (u) => (await fetch(`${u}/v1/ping`)).status, relay);
  expect(status).toBe(204);
  // A foreign Origin gets no CORS grant.
  const res = await page.request.get(`${relay}/v1/ping`, { headers: { Origin: 'http://evil.example' } });
  expect(res.headers()['access-control-allow-origin']).toBeUndefined();
});
