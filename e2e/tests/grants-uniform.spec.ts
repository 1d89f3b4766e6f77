/**
 * Issue #13, item 11, over HTTP against the built app: POST /api/grants answers the same status and body
 * for an e-mail with an account and one without, and GET /api/shared/by-me lists both the same way.
 */
import { randomUUID } from 'node:crypto';
import { test, expect } from '../fixtures.js';
import { chooseSharing, makeFile, protectThroughUi } from '../helpers.js';

test('granting to an e-mail with and without an account looks the same', async ({ admin }) => {
  test.setTimeout(90_000);
  const known = { email: `known-${randomUUID()}@kofn.test`, displayName: 'Known Person', password: 'known password 1' };
  expect((await admin.post('/api/users', known)).status()).toBe(201);
  const unknown = `unknown-${randomUUID()}@kofn.test`;
  const name = `uniform-${randomUUID().slice(0, 8)}.bin`;
  const { page } = admin;
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  await protectThroughUi(page, makeFile(name, 1000), name);
  const files = (await (await admin.get('/api/files')).json()) as { files: Array<{ id: string; name: string }> };
  const fileId = files.files.find((f) => f.name === name)!.id;

  for (const action of ['add_read', 'revoke_read', 'add_read']) {
    const a = await admin.post('/api/grants', { action, emails: [known.email], fileIds: [fileId] });
    const b = await admin.post('/api/grants', { action, emails: [unknown], fileIds: [fileId] });
    expect(b.status()).toBe(a.status());
    expect(a.status()).toBe(200);
    expect(Object.keys(a.headers()).sort()).toEqual(Object.keys(b.headers()).sort());
    expect(await b.json()).toEqual({ action, files: [fileId], emails: [unknown] });
    expect(await a.json()).toEqual({ action, files: [fileId], emails: [known.email] });
  }
  const byMe = (await (await admin.get('/api/shared/by-me')).json()) as { files: Array<{ fileId: string; grantees: Array<Record<string, string>> }> };
  const grantees = byMe.files.find((f) => f.fileId === fileId)!.grantees;
  expect(grantees.map((g) => g.email).sort()).toEqual([known.email, unknown].sort());
  for (const g of grantees) expect(Object.keys(g).sort()).toEqual(['email', 'since']);
});
