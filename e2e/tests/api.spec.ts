/**
 * The coordinator's HTTP API against the built app, a real database and real relays: each route's happy
 * path, errors, and security (sessions, CSRF, other users' files, admin-only routes, hostile bodies).
 */
import { test, expect, ADMIN, type Session } from '../fixtures.js';
import type { APIRequestContext } from '@playwright/test';
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const BOB = { email: 'bob@kofn.test', displayName: 'Bob', password: 'bob password 123' };

async function signIn(request: APIRequestContext, origin: string, who: { email: string; password: string }) {
  const res = await request.post('/api/login', { data: { email: who.email, password: who.password }, headers: { Origin: origin } });
  expect(res.status()).toBe(200);
  const { csrfToken } = (await res.json()) as { csrfToken: string };
  return { Origin: origin, 'X-CSRF-Token': csrfToken };
}

async function ensureBob(admin: Session) {
  const res = await admin.post('/api/users', BOB);
  expect([201, 409]).toContain(res.status());
}

/** The relay signature of `@kofn/shared` (announcement.ts), written out so the test does not trust the code it tests. */
function relaySignature(key: KeyObject, path: string, body: string): string {
  return sign(null, Buffer.from(`kofn-relay-signature-v1\n${path}\n${body}`), key).toString('base64url');
}

const codeOf = async (res: { json: () => Promise<unknown> }) => ((await res.json()) as { error: { code: string } }).error.code;

test.describe('sessions and CSRF', () => {
  test('state-changing requests need this site as Origin and the session CSRF token', async ({ admin, stack }) => {
    const data = { name: 'csrf.bin', size: 1, type: '', k: 2 };
    const noOrigin = await admin.page.request.post('/api/files', { data, headers: { 'X-CSRF-Token': admin.csrfToken } });
    expect(noOrigin.status()).toBe(403);
    expect(await codeOf(noOrigin)).toBe('CSRF_FAILED');
    const evil = await admin.page.request.post('/api/files', { data, headers: { Origin: 'https://evil.example', 'X-CSRF-Token': admin.csrfToken } });
    expect(evil.status()).toBe(403);
    const noToken = await admin.page.request.post('/api/files', { data, headers: { Origin: stack.url } });
    expect(noToken.status()).toBe(403);
    const wrongToken = await admin.page.request.post('/api/files', { data, headers: { Origin: stack.url, 'X-CSRF-Token': 'x'.repeat(43) } });
    expect(wrongToken.status()).toBe(403);
    expect((await admin.post('/api/files', data)).status()).toBe(201);
  });

  test('API routes need a session; a forged cookie is no session', async ({ playwright, stack }) => {
    const anon = await playwright.request.newContext({ baseURL: stack.url });
    for (const path of ['/api/files', '/api/history', '/api/storage', '/api/usage', '/api/shared/with-me', '/api/session']) {
      const res = await anon.get(path);
      expect(res.status(), path).toBe(401);
      expect(await codeOf(res)).toBe('UNAUTHORIZED');
    }
    const forged = await playwright.request.newContext({ baseURL: stack.url, extraHTTPHeaders: { Cookie: 'kofn_session=forged' } });
    expect((await forged.get('/api/files')).status()).toBe(401);
    await anon.dispose();
    await forged.dispose();
  });

  test('sign-in errors: wrong password, malformed and oversized bodies; setup only once', async ({ admin, playwright, stack }) => {
    const anon = await playwright.request.newContext({ baseURL: stack.url });
    const h = { Origin: stack.url };
    const wrong = await anon.post('/api/login', { data: { email: ADMIN.email, password: 'nope nope nope' }, headers: h });
    expect(wrong.status()).toBe(401);
    expect(await codeOf(wrong)).toBe('INVALID_CREDENTIALS');
    const malformed = await anon.post('/api/login', { data: '{"email":', headers: { ...h, 'Content-Type': 'application/json' } });
    expect(malformed.status()).toBe(400);
    const big = await anon.post('/api/login', { data: { email: ADMIN.email, password: 'x'.repeat(100_000) }, headers: h });
    expect(big.status()).toBe(413);
    const again = await anon.post('/api/setup', { data: { email: 'x@y.test', displayName: 'X', password: 'long enough pw' }, headers: h });
    expect(again.status()).toBe(409);
    expect(await codeOf(again)).toBe('SETUP_DONE');
    expect((await admin.get('/api/session')).status()).toBe(200);
    await anon.dispose();
  });
});

test.describe('files API', () => {
  test('reserve errors carry Qasmat messages and stable codes', async ({ admin, stack }) => {
    const cases: Array<[object, number, string, string]> = [
      [
        { name: 'a/b', size: 1, k: 2 },
        400,
        'INVALID_FILENAME',
        'The file name is not allowed: it contains a control character, a slash or a backslash, is "." or "..", or starts or ends with a space.'
      ],
      [{ name: 'k1.bin', size: 1, k: 1 }, 400, 'THRESHOLD_TOO_LOW', 'The threshold must be at least 2.'],
      [{ name: 'k9.bin', size: 1, k: 9 }, 400, 'THRESHOLD_TOO_HIGH', 'The threshold is greater than the number of servers.'],
      [{ name: 'big.bin', size: 6e9, k: 2 }, 413, 'FILE_TOO_BIG', 'File too big, empty or wrong field. The licence allows files up to 5000000000 bytes.'],
      [{ name: 'neg.bin', size: -5, k: 2 }, 413, 'FILE_TOO_BIG', 'File too big, empty or wrong field.'],
      [
        { name: "sql'; drop table files;--\u0007", size: 1, k: 2 },
        400,
        'INVALID_FILENAME',
        'The file name is not allowed: it contains a control character, a slash or a backslash, is "." or "..", or starts or ends with a space.'
      ]
    ];
    for (const [data, status, code, message] of cases) {
      const res = await admin.post('/api/files', data);
      expect(res.status(), JSON.stringify(data)).toBe(status);
      expect(await res.json()).toEqual({ error: { code, message } });
    }
    const first = await admin.post('/api/files', { name: 'twice.bin', size: 1, k: 2 });
    expect(first.status()).toBe(201);
    const second = await admin.post('/api/files', { name: 'twice.bin', size: 1, k: 2 });
    expect(second.status()).toBe(409);
    expect(await codeOf(second)).toBe('FILENAME_IN_USE');
    const notJson = await admin.page.request.post('/api/files', { data: 'nope', headers: { Origin: stack.url, 'X-CSRF-Token': admin.csrfToken, 'Content-Type': 'application/json' } });
    expect(notJson.status()).toBe(400);
    expect(await codeOf(notJson)).toBe('BAD_REQUEST');
    const array = await admin.post('/api/files', [1, 2, 3]);
    expect(array.status()).toBe(400);
  });

  test("another user's files answer 404 everywhere; admin routes answer 403 to users", async ({ admin, playwright, stack }) => {
    await ensureBob(admin);
    const r = await admin.post('/api/files', { name: 'mine.bin', size: 0, k: 2 });
    const { fileId } = (await r.json()) as { fileId: string };
    const bob = await playwright.request.newContext({ baseURL: stack.url });
    const h = await signIn(bob, stack.url, BOB);
    const attempts = [
      bob.get(`/api/files/${fileId}/manifest`),
      bob.post(`/api/files/${fileId}/commit`, { data: { roots: {} }, headers: h }),
      bob.post(`/api/files/${fileId}/tokens`, { data: { op: 'put' }, headers: h }),
      bob.delete(`/api/files/${fileId}`, { headers: h }),
      bob.post(`/api/files/${fileId}/retrievals`, { data: { result: 'ok' }, headers: h })
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status()).toBe(404);
      expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'File not found on the servers.' } });
    }
    for (const path of ['/api/users', '/api/jobs', '/api/license']) expect((await bob.get(path)).status(), path).toBe(403);
    const mk = await bob.post('/api/users', { data: { email: 'eve@kofn.test', displayName: 'Eve', password: 'eve password 1' }, headers: h });
    expect(mk.status()).toBe(403);
    await bob.dispose();
  });

  test('renew, replace-relay and health: no session, no CSRF token, another user, a malformed id, an oversized body', async ({ admin, playwright, stack }) => {
    await ensureBob(admin);
    const { fileId } = (await (await admin.post('/api/files', { name: 'routes-guard.bin', size: 0, k: 2 })).json()) as { fileId: string };
    const routes = [`/api/files/${fileId}/renew`, `/api/files/${fileId}/replace-relay`, `/api/files/${fileId}/health`];
    const anon = await playwright.request.newContext({ baseURL: stack.url });
    for (const path of routes) {
      const res = await anon.post(path, { data: {}, headers: { Origin: stack.url } });
      expect([path, res.status(), await codeOf(res)]).toEqual([path, 401, 'UNAUTHORIZED']);
    }
    const bob = await playwright.request.newContext({ baseURL: stack.url });
    const h = await signIn(bob, stack.url, BOB);
    for (const path of routes) {
      const noToken = await bob.post(path, { data: {}, headers: { Origin: stack.url } });
      expect([path, noToken.status(), await codeOf(noToken)]).toEqual([path, 403, 'CSRF_FAILED']);
      const other = await bob.post(path, { data: { relayId: '00000000-0000-4000-8000-000000000001' }, headers: h });
      expect([path, other.status(), await codeOf(other)]).toEqual([path, 404, 'NOT_FOUND']);
      const malformed = await bob.post(path.replace(fileId, '..%2f..%2fetc'), { data: {}, headers: h });
      expect([path, malformed.status(), await codeOf(malformed)]).toEqual([path, 404, 'NOT_FOUND']);
    }
    const huge = await admin.page.request.post(`/api/files/${fileId}/replace-relay`, {
      data: { relayId: 'x'.repeat(70_000) },
      headers: { Origin: stack.url, 'X-CSRF-Token': admin.csrfToken }
    });
    expect([huge.status(), await codeOf(huge)]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    await anon.dispose();
    await bob.dispose();
  });

  test('batch reserve and commit: no session, no CSRF token, malformed, oversized, another user, replayed', async ({ admin, playwright, stack }) => {
    await ensureBob(admin);
    const files = [
      { name: 'batch-a.bin', size: 0, k: 2 },
      { name: 'batch-b.bin', size: 10, k: 2 },
      { name: 'a/b', size: 1, k: 2 }
    ];
    const reserved = await admin.post('/api/files/batch', { files });
    expect(reserved.status()).toBe(201);
    const { results } = (await reserved.json()) as { results: Array<{ ok: boolean; reservation?: { fileId: string; placements: unknown[] }; error?: { code: string } }> };
    expect(results.map((r) => (r.ok ? 'ok' : r.error!.code))).toEqual(['ok', 'ok', 'INVALID_FILENAME']);
    expect(results[0]!.reservation!.placements).toHaveLength(5);
    const ids = results.filter((r) => r.ok).map((r) => r.reservation!.fileId);
    const anon = await playwright.request.newContext({ baseURL: stack.url });
    for (const path of ['/api/files/batch', '/api/files/commit']) {
      const res = await anon.post(path, { data: { files }, headers: { Origin: stack.url } });
      expect([path, res.status(), await codeOf(res)]).toEqual([path, 401, 'UNAUTHORIZED']);
      const noToken = await admin.page.request.post(path, { data: { files }, headers: { Origin: stack.url } });
      expect([path, noToken.status(), await codeOf(noToken)]).toEqual([path, 403, 'CSRF_FAILED']);
      const evil = await admin.page.request.post(path, { data: { files }, headers: { Origin: 'https://evil.example', 'X-CSRF-Token': admin.csrfToken } });
      expect([path, evil.status()]).toEqual([path, 403]);
      for (const data of [{ files: 'x' }, { files: [] }, { files: Array.from({ length: 1001 }, () => ({})) }]) {
        const bad = await admin.post(path, data);
        expect([path, bad.status(), await codeOf(bad)]).toEqual([path, 400, 'WRONG_VALUE']);
      }
      const notJson = await admin.page.request.post(path, { data: '{"files":', headers: { Origin: stack.url, 'X-CSRF-Token': admin.csrfToken, 'Content-Type': 'application/json' } });
      expect([path, notJson.status()]).toEqual([path, 400]);
      const huge = await admin.post(path, { files: [{ name: 'x'.repeat(1_100_000), size: 1, k: 2 }] });
      expect([path, huge.status(), await codeOf(huge)]).toEqual([path, 413, 'PAYLOAD_TOO_LARGE']);
    }
    // Bob names the admin's reservations: the same 404 per file as for a missing one.
    const bob = await playwright.request.newContext({ baseURL: stack.url });
    const h = await signIn(bob, stack.url, BOB);
    const stolen = await bob.post('/api/files/commit', { data: { files: ids.map((fileId) => ({ fileId, roots: {} })) }, headers: h });
    expect(stolen.status()).toBe(200);
    expect(((await stolen.json()) as { results: unknown[] }).results).toEqual(ids.map(() => ({ ok: false, error: { code: 'NOT_FOUND', message: 'File not found on the servers.' } })));
    // Nothing was uploaded: the owner's commit is refused per file, and the reservations stay.
    const early = await admin.post('/api/files/commit', { files: ids.map((fileId) => ({ fileId, roots: {} })) });
    expect(((await early.json()) as { results: Array<{ error: { code: string } }> }).results.map((r) => r.error.code)).toEqual(['COMMIT_MISMATCH', 'COMMIT_MISMATCH']);
    // Replayed after removal: no reservation any more.
    for (const id of ids) expect((await admin.del(`/api/files/${id}`)).status()).toBe(200);
    const replay = await admin.post('/api/files/commit', { files: ids.map((fileId) => ({ fileId, roots: {} })) });
    expect(((await replay.json()) as { results: Array<{ error: { code: string } }> }).results.map((r) => r.error.code)).toEqual(['NOT_FOUND', 'NOT_FOUND']);
    await anon.dispose();
    await bob.dispose();
  });

  test('manifest and tokens for the owner; removal goes through a visible job', async ({ admin }) => {
    const r = (await (await admin.post('/api/files', { name: 'remove-me.bin', size: 0, k: 2 })).json()) as { fileId: string };
    const tokens = await admin.post(`/api/files/${r.fileId}/tokens`, { op: 'put' });
    expect(tokens.status()).toBe(200);
    expect(((await tokens.json()) as { tokens: unknown[] }).tokens).toHaveLength(5);
    const badOp = await admin.post(`/api/files/${r.fileId}/tokens`, { op: 'rename' });
    expect(await codeOf(badOp)).toBe('WRONG_VALUE');
    expect((await admin.del(`/api/files/${r.fileId}`)).status()).toBe(200);
    // Replayed: the file is already being deleted.
    const replay = await admin.del(`/api/files/${r.fileId}`);
    expect(replay.status()).toBe(404);
    expect(await codeOf(replay)).toBe('NOT_FOUND');
    const jobs = (await (await admin.get('/api/jobs')).json()) as { jobs: Array<{ key: string; kind: string }> };
    expect(jobs.jobs.some((j) => j.key === r.fileId && j.kind === 'delete-file')).toBe(true);
    await expect
      .poll(async () => ((await (await admin.get('/api/jobs')).json()) as { jobs: Array<{ key: string; status: string }> }).jobs.find((j) => j.key === r.fileId)?.status, { timeout: 15_000 })
      .toBe('done');
  });
});

test.describe('configuration, storage, usage, licence', () => {
  test('report version, limits, relays and usage', async ({ admin, page }) => {
    const conf = (await (await page.request.get('/api/configuration')).json()) as Record<string, unknown>;
    expect(conf).toMatchObject({ version: '0.1.0', storageLimit: 5e12, maxFileSize: 5e9, licensed: true, tier: 'Pro' });
    const storage = (await (await admin.get('/api/storage')).json()) as { relays: Array<{ status: string }> };
    expect(storage.relays).toHaveLength(5);
    const usage = (await (await admin.get('/api/usage')).json()) as { limitBytes: number };
    expect(usage.limitBytes).toBe(5e12);
    const lic = (await (await admin.get('/api/license')).json()) as { license: { tier: string }; used: { relays: number } };
    expect(lic.license.tier).toBe('Pro');
    expect(lic.used.relays).toBe(5);
  });

  test('the old join-secret announcement is gone, and the licence caps relays at enrollment', async ({ request, admin }) => {
    const old = { id: '00000000-0000-4000-8000-00000000abcd', name: 'rogue', location: 'x', url: 'http://127.0.0.1:1', version: '0', storage: 'Disk', freeBytes: 1, usedBytes: 0 };
    const res = await request.post('/api/relays/announce', { data: old, headers: { Authorization: 'Bearer anything' } });
    expect(res.status()).toBe(410);
    expect(await codeOf(res)).toBe('ENROLLMENT_REQUIRED');
    // With a real token from the administrator, a sixth relay is still refused: the Pro licence allows five.
    const made = await admin.post('/api/relays/enrollments', { label: 'sixth' });
    expect(made.status()).toBe(201);
    const { token } = (await made.json()) as { token: string };
    const key = generateKeyPairSync('ed25519');
    const body = JSON.stringify({ ...old, id: undefined, url: 'http://127.0.0.1:2', token, publicKey: key.publicKey.export({ format: 'jwk' }).x, at: Date.now() });
    const sixth = await request.post('/api/relays/enroll', {
      data: body,
      headers: { 'content-type': 'application/json', 'X-Kofn-Relay-Signature': relaySignature(key.privateKey, '/api/relays/enroll', body) }
    });
    expect(sixth.status()).toBe(403);
    expect(await sixth.json()).toEqual({ error: { code: 'LICENSE_LIMIT', message: 'The licence allows 5 storage servers.' } });
    const bogus = await request.post('/api/relays/enroll', {
      data: body.replace(token, 'x'.repeat(43)),
      headers: { 'content-type': 'application/json', 'X-Kofn-Relay-Signature': relaySignature(key.privateKey, '/api/relays/enroll', body.replace(token, 'x'.repeat(43))) }
    });
    expect(bogus.status()).toBe(401);
    expect(await codeOf(bogus)).toBe('ENROLLMENT_INVALID');
  });

  // Issue #13's attack with real relay processes: the operator of relay 2 (its data folder, so its own key)
  // announces itself as relay 1 with relay 2's URL, to receive relay 1's read tokens.
  test('a relay cannot heartbeat as another relay, and no heartbeat moves a URL', async ({ request, admin }) => {
    const before = (await (await admin.get('/api/storage')).json()) as { relays: Array<{ id: string; name: string; host: string }> };
    const one = before.relays.find((r) => r.name === 'relay-1')!;
    const two = before.relays.find((r) => r.name === 'relay-2')!;
    const keyOfTwo = createPrivateKey(readFileSync(join(process.env.KOFN_E2E_DATA_DIR!, 'relays', 'relay-2', 'relay-key.pem'), 'utf8'));
    const send = (relayId: string, url: string, at: number) => {
      const body = JSON.stringify({ relayId, name: 'relay-1', location: 'x', url, version: '0.1.0', storage: 'Disk', freeBytes: 1, usedBytes: 0, at });
      return request.post('/api/relays/heartbeat', { data: body, headers: { 'content-type': 'application/json', 'X-Kofn-Relay-Signature': relaySignature(keyOfTwo, '/api/relays/heartbeat', body) } });
    };
    const asOne = await send(one.id, two.host, Date.now());
    expect(asOne.status()).toBe(401);
    expect(await codeOf(asOne)).toBe('RELAY_SIGNATURE_INVALID');
    // Signed as itself, relay 2 is heard, but the URL and name it proposes are not taken. The timestamp is
    // only just ahead of now: every heartbeat must be newer than the last one heard, so a stamp far in the
    // future would refuse the real relay-2's own beats until then, and after 30 s this shared stack would
    // call relay-2 offline for every other test (a CI run failed that way, in app-shell.spec.ts).
    const t = Date.now() + 1_000;
    const asTwo = await send(two.id, one.host, t);
    expect(asTwo.status()).toBe(200);
    expect(((await asTwo.json()) as { registered: { url: string } }).registered.url).toBe(two.host);
    const replay = await send(two.id, one.host, t);
    expect(replay.status()).toBe(401);
    const after = (await (await admin.get('/api/storage')).json()) as { relays: Array<{ id: string; name: string; host: string }> };
    expect(after.relays.find((r) => r.id === one.id)).toMatchObject({ host: one.host, name: 'relay-1' });
    expect(after.relays.find((r) => r.id === two.id)).toMatchObject({ host: two.host, name: 'relay-2' });
  });

  test('only an administrator makes enrollment tokens and changes a relay', async ({ admin, stack, request }) => {
    const anon = await request.post('/api/relays/enrollments', { data: { label: 'x' }, headers: { Origin: stack.url } });
    expect(anon.status()).toBe(401);
    const list = (await (await admin.get('/api/relays/enrollments')).json()) as { enrollments: Array<{ label: string }> };
    expect(list.enrollments.map((e) => e.label)).toContain('sixth');
    const storage = (await (await admin.get('/api/storage')).json()) as { relays: Array<{ id: string; name: string; location: string }> };
    const three = storage.relays.find((r) => r.name === 'relay-3')!;
    const patch = (data: unknown, headers: Record<string, string>) => admin.page.request.patch(`/api/relays/${three.id}`, { data, headers });
    const ok = await patch({ location: 'rack 3' }, { Origin: stack.url, 'X-CSRF-Token': admin.csrfToken });
    expect(ok.status()).toBe(200);
    const noCsrf = await patch({ location: 'evil' }, { Origin: stack.url });
    expect(noCsrf.status()).toBe(403);
    const bad = await patch({ url: 'ftp://x' }, { Origin: stack.url, 'X-CSRF-Token': admin.csrfToken });
    expect(bad.status()).toBe(400);
    const back = (await (await admin.get('/api/storage')).json()) as { relays: Array<{ id: string; location: string }> };
    expect(back.relays.find((r) => r.id === three.id)?.location).toBe('rack 3');
    const history = (await (await admin.get('/api/history')).json()) as { history: Array<{ operation: string }> };
    expect(history.history.map((h) => h.operation)).toContain('relay_changed');
  });

  test('kofn-admin makes enrollment tokens and lists relays with their key fingerprints', async ({ admin, stack }) => {
    const cli = join(import.meta.dirname, '..', '..', 'web', 'scripts', 'kofn-admin.mjs');
    const env = { ...process.env, KOFN_ADMIN_PASSWORD: ADMIN.password };
    const args = ['--coordinator', stack.url, '--email', ADMIN.email];
    const made = execFileSync(process.execPath, [cli, 'enroll', '--name', 'from-cli', ...args], { env, encoding: 'utf8' });
    const token = /^([A-Za-z0-9_-]{43})$/m.exec(made)?.[1];
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(made).toContain(`KOFN_RELAY_ENROLLMENT_TOKEN=${token}`);
    const pending = (await (await admin.get('/api/relays/enrollments')).json()) as { enrollments: Array<{ label: string }> };
    expect(pending.enrollments.map((e) => e.label)).toContain('from-cli');
    const listed = execFileSync(process.execPath, [cli, 'relays', ...args], { env, encoding: 'utf8' });
    const fingerprints = listed
      .trim()
      .split('\n')
      .map((l) => / key ([0-9a-f:]{39})$/.exec(l)?.[1]);
    expect(fingerprints).toHaveLength(5);
    for (const f of fingerprints) expect(f).toMatch(/^[0-9a-f]{4}(:[0-9a-f]{4}){7}$/);
    expect(() => execFileSync(process.execPath, [cli, 'relays', ...args], { env: { ...env, KOFN_ADMIN_PASSWORD: 'wrong password!' }, stdio: 'pipe' })).toThrow(/INVALID_CREDENTIALS/);
  });
});
