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

test('a page on the app origin can ping a relay across origins; another origin gets no CORS grant', async ({ page, stack }) => {
  await page.goto('/login');
  const relay = stack.relays[0]!;
  const status = await page.evaluate(async (u) => (await fetch(`${u}/v1/ping`)).status, relay);
  expect(status).toBe(204);
  const res = await page.request.get(`${relay}/v1/ping`, { headers: { Origin: 'http://evil.example' } });
  expect(res.headers()['access-control-allow-origin']).toBeUndefined();
});

test('relays verify capability tokens minted by the coordinator (JWKS)', async ({ admin, stack }) => {
  // Reserve a file through the API: the coordinator mints one upload token per relay.
  const res = await admin.post('/api/files', { name: 'jwks-check.bin', size: 0, type: '', k: 2 });
  expect(res.status()).toBe(201);
  const r = (await res.json()) as { fileId: string; placements: Array<{ url: string; token: string }> };
  expect(r.placements).toHaveLength(stack.relays.length);
  for (const p of r.placements) {
    const list = await admin.page.request.get(`${p.url}/v1/files/${r.fileId}/chunks`, { headers: { Authorization: `Bearer ${p.token}` } });
    // A put token is refused for listing: proves the relay verified the coordinator's signature and scope.
    expect(list.status()).toBe(403);
    expect(((await list.json()) as { error: { code: string } }).error.code).toBe('TOKEN_OUT_OF_SCOPE');
  }
});
