/**
 * File health end to end (issue #16) on a stack of its own (3 relays, the launcher behind `npm start`):
 * relay-1's whole data folder is deleted and relay-2's scrub finds bit rot; the check API, the dashboard's
 * health column and "at risk" filter, the admin counts and the history show it, naming the relays. Every
 * new route answers bad or hostile input with a 4xx code, never a 5xx.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { APIResponse, Page } from '@playwright/test';
import { ADMIN, expect, test } from '../fixtures.js';
import { startStack, type RunningStack } from '../stack.js';
import { makeFile, protectThroughUi, ready } from '../helpers.js';

test.describe.configure({ mode: 'serial', timeout: 180_000 });

let stack: RunningStack;
let page: Page;
let csrf = '';
const everywhere = { name: 'on-all-three.bin', file: makeFile('on-all-three.bin', 1024 * 1024 + 5) };
const twoOnly = { name: 'on-relays-2-3.bin', file: makeFile('on-relays-2-3.bin', 200_000) };
const ids: Record<string, string> = {};

const post = (path: string, data: unknown = {}, headers: Record<string, string> = {}) => page.request.post(path, { data, headers: { Origin: stack.url, 'X-CSRF-Token': csrf, ...headers } });
const codeOf = async (r: APIResponse) => ((await r.json()) as { error: { code: string } }).error.code;
const healthOf = async (id: string) =>
  ((await (await page.request.get(`/api/files/${id}/health`)).json()) as { health: { state: string; shares: Array<{ name: string; state: string }> } | null }).health;

/** Chooses which relays (by position in the list, sorted by name) take the next upload, and k. */
async function chooseRelays(p: Page, which: number[], k: number): Promise<void> {
  await ready(p);
  const boxes = p.locator('.relay-choice input[type=checkbox]');
  const count = await boxes.count();
  for (let i = 0; i < count; i++) await boxes.nth(i).setChecked(which.includes(i));
  await p.getByTestId('threshold').fill(String(k));
}

function scrub(relayDir: string): Promise<{ code: number | null; err: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [resolve(import.meta.dirname, '../../relay/dist/main.js'), '--scrub'], {
      env: { ...process.env, KOFN_RELAY_DATA: relayDir, KOFN_COORDINATOR: stack.url, KOFN_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe']
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => res({ code, err }));
  });
}

test.beforeAll(async ({ browser }) => {
  // Starting a stack of its own (a coordinator and relays) can take over a minute on a loaded 2-core machine.
  test.setTimeout(180_000);
  stack = await startStack({ relays: 3, tier: 'Essential' });
  const context = await browser.newContext({ baseURL: stack.url });
  page = await context.newPage();
  const setup = await page.request.post('/api/setup', { data: ADMIN, headers: { Origin: stack.url } });
  expect(setup.status()).toBe(201);
  csrf = ((await setup.json()) as { csrfToken: string }).csrfToken;
  await page.goto('/');
  await chooseRelays(page, [0, 1, 2], 2);
  await protectThroughUi(page, everywhere.file, everywhere.name);
  await chooseRelays(page, [1, 2], 2);
  await protectThroughUi(page, twoOnly.file, twoOnly.name);
  const { files } = (await (await page.request.get('/api/files')).json()) as { files: Array<{ id: string; name: string }> };
  for (const f of files) ids[f.name] = f.id;
});

test.afterAll(async () => {
  await page?.context().close();
  await stack?.stop();
});

test('a check of fresh files finds them healthy; the dashboard shows it', async () => {
  for (const name of [everywhere.name, twoOnly.name]) {
    const r = await post(`/api/files/${ids[name]}/health`);
    expect(r.status()).toBe(200);
    expect(((await r.json()) as { health: { state: string } }).health.state).toBe('healthy');
  }
  await page.reload();
  await expect(page.getByTestId('file-row').filter({ hasText: everywhere.name }).getByTestId('file-health')).toHaveAttribute('data-health', 'healthy');
});

test('relay-1 data folder deleted: the check names it, the file is at risk, the filter and admin counts show it', async () => {
  const relay1 = stack.relayProcs.find((r) => r.name === 'relay-1')!;
  rmSync(relay1.dataDir, { recursive: true, force: true });
  // The check also enqueues a repair of relay-1's share (2 good shares = k); it cannot land while relay-1
  // runs without its folder (its spool folder is gone), so the states below hold; repair itself is
  // tested in web/src/lib/server/repair.test.ts.
  for (const name of [everywhere.name, twoOnly.name]) expect((await post(`/api/files/${ids[name]}/health`)).status()).toBe(200);
  const h = await healthOf(ids[everywhere.name]!);
  expect(h?.state).toBe('at_risk');
  expect(h?.shares.find((s) => s.name === 'relay-1')?.state).toBe('missing');
  // The file on relays 2 and 3 only still has all of its n shares: healthy (nothing to repair; n = k
  // leaves no margin, which the user chose).
  expect((await healthOf(ids[twoOnly.name]!))?.state).toBe('healthy');

  await page.reload();
  const row = page.getByTestId('file-row').filter({ hasText: everywhere.name });
  await expect(row.getByTestId('file-health')).toHaveAttribute('data-health', 'at_risk');
  await expect(row.getByTestId('file-health')).toContainText('relay-1: missing');
  await page.getByLabel('Show only files at risk in Your files').check();
  await expect(page.getByTestId('file-row')).toHaveCount(1);
  await expect(page.getByTestId('file-row')).toContainText(everywhere.name);

  await expect(page.getByTestId('history-row').filter({ hasText: everywhere.name }).filter({ hasText: 'check' }).first()).toContainText('missing on relay-1');
  await page.goto('/admin');
  await expect(page.getByTestId('file-health-counts')).toContainText('healthy 1, degraded 0, at risk 1');
  const counts = await page.request.get('/api/files/health');
  expect(((await counts.json()) as { counts: Record<string, number> }).counts).toEqual({ healthy: 1, degraded: 0, at_risk: 1, unrecoverable: 0, unchecked: 0 });
});

test('relay-2 scrub finds bit rot and reports it, signed: the coordinator marks that share damaged', async () => {
  const relay2 = stack.relayProcs.find((r) => r.name === 'relay-2')!;
  const fid = ids[everywhere.name]!;
  const dir = join(relay2.dataDir, 'chunks', fid.slice(0, 2), fid);
  const name = readdirSync(dir).find((n) => n.startsWith('1.'))!;
  const bytes = readFileSync(join(dir, name));
  bytes[bytes.length - 7]! ^= 0x01;
  writeFileSync(join(dir, name), bytes);

  const r = await scrub(relay2.dataDir);
  expect(r.code, r.err).toBe(1);
  expect(r.err).toContain('reported to the coordinator (1 file(s)');
  const h = await healthOf(fid);
  expect(h?.state).toBe('unrecoverable');
  expect(h?.shares.find((s) => s.name === 'relay-2')?.state).toBe('damaged');
  expect((await healthOf(ids[twoOnly.name]!))?.shares.every((s) => s.state === 'ok')).toBe(true);
});

test('bad and hostile input on the new routes: 4xx with a code, never 5xx', async ({ playwright }) => {
  // The relay scrub route: no or forged signature, junk, too large.
  const scrubRoute = `${stack.url}/api/relays/scrub`;
  const anon = await playwright.request.newContext();
  const unsigned = await anon.post(scrubRoute, { data: { relayId: stack.relayProcs[1]!.id, at: Date.now(), checked: 1, corrupt: [] } });
  expect([unsigned.status(), await codeOf(unsigned)]).toEqual([401, 'RELAY_SIGNATURE_INVALID']);
  const forged = await anon.post(scrubRoute, { data: { relayId: stack.relayProcs[1]!.id, at: Date.now(), checked: 1, corrupt: [] }, headers: { 'x-kofn-relay-signature': 'A'.repeat(85) + 'A' } });
  expect(await codeOf(forged)).toBe('RELAY_SIGNATURE_INVALID');
  const junk = await anon.post(scrubRoute, { data: '{"relayId": ', headers: { 'content-type': 'application/json' } });
  expect([junk.status(), await codeOf(junk)]).toEqual([400, 'BAD_REQUEST']);
  const huge = await anon.post(scrubRoute, { data: Buffer.alloc(2 * 1024 * 1024, 0x20), headers: { 'content-type': 'application/json' } });
  expect([huge.status(), await codeOf(huge)]).toEqual([413, 'PAYLOAD_TOO_LARGE']);

  // File health: signed out, a stranger, no CSRF token, a malformed id.
  const id = ids[everywhere.name]!;
  const out = await anon.get(`${stack.url}/api/files/${id}/health`);
  expect([out.status(), await codeOf(out)]).toEqual([401, 'UNAUTHORIZED']);
  const noCsrf = await page.request.post(`/api/files/${id}/health`, { data: {}, headers: { Origin: stack.url } });
  expect([noCsrf.status(), await codeOf(noCsrf)]).toEqual([403, 'CSRF_FAILED']);
  // A malformed id is answered like an unknown one (validate.ts fileId): nothing tells the two apart.
  const bad = await page.request.get('/api/files/not-a-file-id/health');
  expect([bad.status(), await codeOf(bad)]).toEqual([404, 'NOT_FOUND']);

  const made = await post('/api/users', { email: 'bob@kofn.test', displayName: 'Bob', password: 'bob password 1', role: 'user' });
  expect(made.status()).toBeLessThan(300);
  const bob = await playwright.request.newContext({ baseURL: stack.url });
  const login = await bob.post('/api/login', { data: { email: 'bob@kofn.test', password: 'bob password 1' }, headers: { Origin: stack.url } });
  const bobCsrf = ((await login.json()) as { csrfToken: string }).csrfToken;
  const peek = await bob.get(`/api/files/${id}/health`);
  expect([peek.status(), await codeOf(peek)]).toEqual([404, 'NOT_FOUND']);
  const poke = await bob.post(`/api/files/${id}/health`, { data: {}, headers: { Origin: stack.url, 'X-CSRF-Token': bobCsrf } });
  expect([poke.status(), await codeOf(poke)]).toEqual([404, 'NOT_FOUND']);
  const counts = await bob.get('/api/files/health');
  expect([counts.status(), await codeOf(counts)]).toEqual([403, 'FORBIDDEN']);
  await bob.dispose();
  await anon.dispose();
});
