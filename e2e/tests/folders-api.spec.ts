/**
 * Folders and trash over HTTP (issue #18) against the built app, its database and real relays: each new
 * route's happy path, malformed and oversized bodies, unauthorised callers (no session, no CSRF token,
 * another user's ids, a read-only token) and replayed requests, all answered with a 4xx and a stable code.
 */
import { test, expect, type Session } from '../fixtures.js';
import type { APIRequestContext, APIResponse } from '@playwright/test';

const CAROL = { email: 'carol-folders@kofn.test', displayName: 'Carol', password: 'carol password 123' };
const codeOf = async (res: APIResponse) => ((await res.json()) as { error: { code: string } }).error.code;

async function asCarol(admin: Session, request: APIRequestContext, origin: string) {
  expect([201, 409]).toContain((await admin.post('/api/users', CAROL)).status());
  const res = await request.post('/api/login', { data: { email: CAROL.email, password: CAROL.password }, headers: { Origin: origin } });
  expect(res.status()).toBe(200);
  const { csrfToken } = (await res.json()) as { csrfToken: string };
  return { Origin: origin, 'X-CSRF-Token': csrfToken };
}

test('folders and trash routes: happy paths, replays, malformed and oversized bodies, strangers and tokens', async ({ admin, stack, playwright }) => {
  const headers = { Origin: stack.url, 'X-CSRF-Token': admin.csrfToken };
  const patch = (path: string, data: unknown) => admin.page.request.patch(path, { data, headers });

  // Happy: a folder, a path, a listing with breadcrumbs.
  const made = await admin.post('/api/folders', { name: 'api-folder' });
  expect(made.status()).toBe(201);
  const folder = (await made.json()) as { id: string };
  const deep = (await (await admin.post('/api/folders', { path: 'api-folder/a/b' })).json()) as { id: string };
  const listing = (await (await admin.get(`/api/folders?parent=${deep.id}`)).json()) as { path: Array<{ name: string }> };
  expect(listing.path.map((p) => p.name)).toEqual(['api-folder', 'a', 'b']);
  // Replayed create: the name is taken (409 FILENAME_IN_USE); a replayed path answers the same folder.
  const again = await admin.post('/api/folders', { name: 'api-folder' });
  expect(again.status()).toBe(409);
  expect(await codeOf(again)).toBe('FILENAME_IN_USE');
  expect(((await (await admin.post('/api/folders', { path: 'api-folder/a/b' })).json()) as { id: string }).id).toBe(deep.id);
  // Rename twice: the same answer.
  for (let i = 0; i < 2; i++) expect((await patch(`/api/folders/${folder.id}`, { name: 'api-renamed' })).status()).toBe(200);
  // A move into its own subfolder.
  const cycle = await patch(`/api/folders/${folder.id}`, { parentId: deep.id });
  expect(cycle.status()).toBe(409);
  expect(await codeOf(cycle)).toBe('FOLDER_CYCLE');

  // Malformed: not JSON, not an object, bad names, bad cursors and limits, 1,000 levels.
  const raw = await admin.page.request.post('/api/folders', { data: 'not json', headers: { ...headers, 'Content-Type': 'application/json' } });
  expect(raw.status()).toBe(400);
  expect(await codeOf(raw)).toBe('BAD_REQUEST');
  expect(await codeOf(await admin.post('/api/folders', [1, 2]))).toBe('BAD_REQUEST');
  for (const name of ['a/b', '..', 'bell\u0007', 'x'.repeat(256)]) {
    const r = await admin.post('/api/folders', { name });
    expect(r.status(), name.slice(0, 10)).toBe(400);
    expect(await codeOf(r)).toBe('INVALID_FILENAME');
  }
  const tooDeep = await admin.post('/api/folders', { path: Array.from({ length: 1000 }, (_, i) => `n${i}`).join('/') });
  expect(tooDeep.status()).toBe(400);
  expect(await codeOf(tooDeep)).toBe('FOLDER_TOO_DEEP');
  for (const query of ['cursor=garbage', 'limit=0', 'limit=100000', 'q=%00']) {
    const r = await admin.get(`/api/folders?${query}`);
    expect(r.status(), query).toBe(400);
    expect(await codeOf(r)).toBe('WRONG_VALUE');
  }
  expect(await codeOf(await admin.get('/api/trash?cursor=garbage'))).toBe('WRONG_VALUE');
  expect(await codeOf(await admin.post('/api/folders/bulk', { action: 'explode', files: ['x'] }))).toBe('WRONG_VALUE');
  const tenThousand = Array.from({ length: 10_000 }, (_, i) => i.toString(16).padStart(32, '0'));
  const bulkTooMany = await admin.post('/api/folders/bulk', { action: 'trash', files: tenThousand });
  expect(bulkTooMany.status()).toBe(400);
  expect(await codeOf(bulkTooMany)).toBe('WRONG_VALUE');
  expect(await codeOf(await admin.post('/api/trash/restore', { files: tenThousand }))).toBe('WRONG_VALUE');

  // Oversized: past the 64 KiB API body (folders) and the 1 MiB batch body (bulk).
  const big = await admin.post('/api/folders', { name: 'x', pad: 'y'.repeat(70 * 1024) });
  expect(big.status()).toBe(413);
  expect(await codeOf(big)).toBe('PAYLOAD_TOO_LARGE');
  const bigBulk = await admin.post('/api/folders/bulk', { action: 'trash', files: ['a'], pad: 'y'.repeat(1100 * 1024) });
  expect(bigBulk.status()).toBe(413);

  // Unauthorised: no session; a session without the CSRF token; another user's ids; a read-only token.
  const anon = await playwright.request.newContext({ baseURL: stack.url });
  for (const [method, path] of [
    ['GET', '/api/folders'],
    ['POST', '/api/folders'],
    ['PATCH', `/api/folders/${folder.id}`],
    ['DELETE', `/api/folders/${folder.id}`],
    ['POST', '/api/folders/bulk'],
    ['GET', '/api/trash'],
    ['DELETE', '/api/trash'],
    ['POST', '/api/trash/restore'],
    ['PATCH', `/api/files/${'0'.repeat(32)}`]
  ] as const) {
    const r = await anon.fetch(path, { method, ...(method === 'GET' ? {} : { data: {} }), headers: { Origin: stack.url } });
    expect(r.status(), `${method} ${path}`).toBe(401);
  }
  const noCsrf = await admin.page.request.post('/api/folders', { data: { name: 'csrf' }, headers: { Origin: stack.url } });
  expect(noCsrf.status()).toBe(403);
  const carolRequest = await playwright.request.newContext({ baseURL: stack.url });
  const carol = await asCarol(admin, carolRequest, stack.url);
  expect((await carolRequest.get(`/api/folders?parent=${folder.id}`)).status()).toBe(404);
  expect((await carolRequest.patch(`/api/folders/${folder.id}`, { data: { name: 'mine now' }, headers: carol })).status()).toBe(404);
  expect((await carolRequest.delete(`/api/folders/${folder.id}`, { headers: carol })).status()).toBe(404);
  const carolBulk = (await (await carolRequest.post('/api/folders/bulk', { data: { action: 'trash', folders: [folder.id] }, headers: carol })).json()) as {
    results: Array<{ ok: boolean; error?: { code: string } }>;
  };
  expect(carolBulk.results).toEqual([{ ok: false, error: expect.objectContaining({ code: 'NOT_FOUND' }) }]);
  const tokenRes = await admin.post('/api/tokens', { name: 'folders read-only', scopes: ['read'] });
  const { token } = (await tokenRes.json()) as { token: string };
  const reader = await playwright.request.newContext({ baseURL: stack.url, extraHTTPHeaders: { Authorization: `Bearer ${token}` } });
  expect((await reader.get('/api/folders')).status()).toBe(200);
  const refused = await reader.post('/api/folders', { data: { name: 'by-token' } });
  expect(refused.status()).toBe(403);
  expect(await codeOf(refused)).toBe('TOKEN_SCOPE');

  // Trash: remove, replayed remove, restore, replayed restore, empty.
  const trashed = await admin.del(`/api/folders/${folder.id}`);
  expect(trashed.status()).toBe(200);
  expect((await admin.del(`/api/folders/${folder.id}`)).status()).toBe(404);
  const items = ((await (await admin.get('/api/trash')).json()) as { items: Array<{ id: string; kind: string }> }).items;
  expect(items.find((i) => i.id === folder.id)).toMatchObject({ kind: 'folder' });
  const restored = (await (await admin.post('/api/trash/restore', { folders: [folder.id] })).json()) as { results: Array<{ ok: boolean }> };
  expect(restored.results[0]).toMatchObject({ ok: true });
  const replay = (await (await admin.post('/api/trash/restore', { folders: [folder.id] })).json()) as { results: Array<{ ok: boolean; error?: { code: string } }> };
  expect(replay.results[0]).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  await admin.del(`/api/folders/${folder.id}`);
  const emptied = await admin.page.request.delete('/api/trash', { headers });
  expect(emptied.status()).toBe(200);
  expect(((await emptied.json()) as { folders: number }).folders).toBeGreaterThanOrEqual(1);
  await Promise.all([anon.dispose(), carolRequest.dispose(), reader.dispose()]);
});
