/**
 * Issue #13, item 5: the CSRF check keyed on the raw path (`pathname.startsWith('/api/')`) while SvelteKit
 * routes the decoded path, so `/%61pi/logout` signed a user out from another origin and `/%61pi/*` reached
 * every route without the session's token. The check now runs on every unsafe method of every route
 * (matched by route id) and on paths no route matches. Each case below is sent with the victim's cookie,
 * as a cross-site form or fetch would, and must be refused without running the action.
 */
import { test, expect, type Session } from '../fixtures.js';

const codeOf = async (res: { json: () => Promise<unknown> }) => ((await res.json()) as { error: { code: string } }).error.code;

/**
 * SvelteKit answers a trailing slash with a 308 to the canonical path before any hook runs; a browser
 * repeats the request there, so follow it once (same method, body and headers) and judge that answer.
 */
async function send(admin: Session, path: string, options: { data: unknown; headers: Record<string, string> }) {
  const res = await admin.page.request.post(path, { ...options, maxRedirects: 0 });
  if (res.status() !== 308) return res;
  return admin.page.request.post(new URL(res.headers().location!, process.env.KOFN_E2E_URL).toString(), { ...options, maxRedirects: 0 });
}

/** The session still works: no spelling of the path ran the logout. */
async function stillSignedIn(admin: Session) {
  expect((await admin.get('/api/session')).status()).toBe(200);
}

/**
 * Spellings of an API path that a raw-path prefix check does not see as `/api/...`. Absolute URLs, so the
 * client does not read `//api/...` as a host name; Playwright sends the path as written.
 */
const spellings = (rest: string) =>
  [
    `/%61pi/${rest}`,
    `/%61%70%69/${rest}`,
    `/%2561pi/${rest}`,
    `/API/${rest}`,
    `/Api/${rest}`,
    `//api/${rest}`,
    `/api//${rest}`,
    `/api/${rest}/`,
    `/%61pi/${rest}/`,
    `/./api/${rest}`,
    `/api/%2e/${rest}`
  ].map((p) => `${process.env.KOFN_E2E_URL ?? ''}${p}`);

test.describe('CSRF by route id', () => {
  test('a cross-site logout through an encoded path is refused and the session lives on', async ({ admin }) => {
    for (const path of ['/api/logout', ...spellings('logout')]) {
      for (const headers of [{ Origin: 'https://evil.example' }, {} as Record<string, string>]) {
        const res = await send(admin, path, { data: {}, headers });
        // 403 CSRF_FAILED where the path names a route; a path that names none may only be a 404.
        expect([403, 404], `${path} ${JSON.stringify(headers)}`).toContain(res.status());
        if (res.status() === 403) expect(await codeOf(res), path).toBe('CSRF_FAILED');
        await stillSignedIn(admin);
      }
    }
  });

  test('same origin but no or a wrong CSRF token through an encoded path is refused', async ({ admin, stack }) => {
    const data = { name: 'csrf-encoded.bin', size: 1, type: '', k: 2 };
    for (const path of ['/api/files', ...spellings('files')]) {
      for (const token of [undefined, 'x'.repeat(43), admin.csrfToken.slice(1) + 'A']) {
        const headers: Record<string, string> = { Origin: stack.url };
        if (token) headers['X-CSRF-Token'] = token;
        const res = await send(admin, path, { data, headers });
        expect([403, 404], `${path} token=${token ?? 'none'}`).toContain(res.status());
        if (res.status() === 403) expect(await codeOf(res), path).toBe('CSRF_FAILED');
      }
      // The right token from another origin is refused too.
      const cross = await send(admin, path, { data, headers: { Origin: 'https://evil.example', 'X-CSRF-Token': admin.csrfToken } });
      expect([403, 404], path).toContain(cross.status());
    }
    // None of them reserved the file: the proper request still can (a reservation would make it 409).
    const ok = await admin.post('/api/files', data);
    expect(ok.status()).toBe(201);
    // And the encoded path with the right Origin and token reaches the same route, so it is a real route.
    const encoded = await admin.page.request.post('/%61pi/files', { data: { ...data, name: 'csrf-encoded-2.bin' }, headers: { Origin: stack.url, 'X-CSRF-Token': admin.csrfToken } });
    expect(encoded.status()).toBe(201);
  });

  test('every unsafe method is checked, not only POST', async ({ admin }) => {
    const reserved = await admin.post('/api/files', { name: 'csrf-delete.bin', size: 1, type: '', k: 2 });
    expect(reserved.status()).toBe(201);
    const { fileId: id } = (await reserved.json()) as { fileId: string };
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    for (const method of ['DELETE', 'PUT', 'PATCH', 'PROPFIND']) {
      for (const path of [`/api/files/${id}`, `/%61pi/files/${id}`]) {
        const res = await admin.page.request.fetch(path, { method, headers: { Origin: 'https://evil.example' }, maxRedirects: 0 });
        expect(res.status(), `${method} ${path}`).toBe(403);
        expect(await codeOf(res)).toBe('CSRF_FAILED');
      }
    }
  });

  test('pages, form actions and unknown paths get the same check', async ({ admin }) => {
    for (const path of ['/', '/login', '/admin', '/about', '/setup', '/docs', '/no-such-page', '/%61pi/no-such-route', '/api/no-such-route']) {
      const form = await admin.page.request.post(path, { form: { a: '1' }, headers: { Origin: 'https://evil.example' }, maxRedirects: 0 });
      expect(form.status(), path).toBe(403);
      const json = await admin.page.request.post(path, { data: {}, maxRedirects: 0 });
      expect(json.status(), path).toBe(403);
      expect(await codeOf(json)).toBe('CSRF_FAILED');
    }
    await stillSignedIn(admin);
  });

  test('sign-in from another origin through an encoded path is refused (login CSRF)', async ({ playwright, stack }) => {
    const anon = await playwright.request.newContext({ baseURL: stack.url });
    for (const path of ['/api/login', '/%61pi/login']) {
      const res = await anon.post(path, { data: { email: 'admin@kofn.test', password: 'x' }, headers: { Origin: 'https://evil.example' } });
      expect(res.status(), path).toBe(403);
      expect(await codeOf(res)).toBe('CSRF_FAILED');
    }
    await anon.dispose();
  });

  test('the relay routes stay exempt (relays sign their messages, carry no cookie and no Origin)', async ({ playwright, stack }) => {
    const relay = await playwright.request.newContext({ baseURL: stack.url });
    const expected: Record<string, string> = {
      '/api/relays/announce': 'ENROLLMENT_REQUIRED',
      '/%61pi/relays/announce': 'ENROLLMENT_REQUIRED',
      '/api/relays/enroll': 'BAD_REQUEST',
      '/api/relays/heartbeat': 'BAD_REQUEST',
      '/api/relays/scrub': 'BAD_REQUEST'
    };
    for (const [path, code] of Object.entries(expected)) {
      const res = await relay.post(path, { data: {} });
      // Their own checks answer (retired route, or a message that is not a signed relay message), not CSRF.
      expect(await codeOf(res), path).toBe(code);
    }
    await relay.dispose();
  });
});
