import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { RELAY_ENROLL_PATH, RELAY_HEARTBEAT_PATH, relaySigningInput } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { relays } from './db/schema.js';
import { createUser } from './auth.js';
import { listHistory } from './history.js';
import {
  acceptHeartbeat,
  byFreeSpace,
  countRelays,
  createEnrollment,
  enrollRelay,
  fingerprintOf,
  hashEnrollmentToken,
  importProvisionedEnrollments,
  listEnrollments,
  listRelays,
  revokeEnrollment,
  updateRelay
} from './relays.js';

interface TestKey {
  privateKey: KeyObject;
  publicKey: string;
}

function newKey(): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey: publicKey.export({ format: 'jwk' }).x! };
}

function signed(key: TestKey, path: string, message: object): { body: Uint8Array; signature: string } {
  const body = new TextEncoder().encode(JSON.stringify(message));
  return { body, signature: sign(null, relaySigningInput(path, body), key.privateKey).toString('base64url') };
}

const T0 = new Date('2026-06-01T12:00:00Z');
const at = (offsetMs: number) => new Date(T0.getTime() + offsetMs);
const report = (n: number, over: Record<string, unknown> = {}) => ({
  name: `relay-${n}`,
  location: 'Lab',
  url: `http://127.0.0.1:90${n}0`,
  version: '0.1.0',
  storage: 'Disk',
  freeBytes: 1_000_000,
  usedBytes: 0,
  ...over
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return 'NO_ERROR';
}

describeDatabases('relay identity on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let adminId: string;
  const keyA = newKey();
  const keyC = newKey();
  let relayA = '';
  let relayC = '';

  const enroll = (key: TestKey, token: string, n: number, when: Date, over: Record<string, unknown> = {}, limit = 10) => {
    const m = signed(key, RELAY_ENROLL_PATH, { ...report(n), token, publicKey: key.publicKey, at: when.getTime(), ...over });
    return enrollRelay(database.db, m.body, m.signature, limit, when);
  };
  const heartbeat = (key: TestKey, relayId: string, n: number, when: Date, over: Record<string, unknown> = {}) => {
    const m = signed(key, RELAY_HEARTBEAT_PATH, { ...report(n), relayId, at: when.getTime(), ...over });
    return acceptHeartbeat(database.db, m.body, m.signature, when);
  };

  beforeAll(async () => {
    database = await open();
    adminId = (await createUser(database.db, { email: 'admin@example.org', displayName: 'Admin', role: 'admin' }, 10)).id;
  });
  afterAll(async () => {
    await database.drop();
  });

  it('enrolls a relay with a one-time token, assigns its id and pins its key', async () => {
    const { token, enrollment } = await createEnrollment(database.db, { label: 'relay A', createdBy: adminId }, T0);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await listEnrollments(database.db, T0)).toEqual([enrollment]);
    // A relay id in the body is ignored: the coordinator assigns it.
    const { relayId } = await enroll(keyA, token, 1, T0, { relayId: '00000000-0000-4000-8000-000000000001' });
    expect(relayId).not.toBe('00000000-0000-4000-8000-000000000001');
    relayA = relayId;
    const [view] = await listRelays(database.db, T0, 30_000);
    expect(view).toMatchObject({ id: relayA, name: 'relay-1', url: 'http://127.0.0.1:9010', status: 'online', enrolled: true, fingerprint: fingerprintOf(keyA.publicKey) });
    expect(await listEnrollments(database.db, T0)).toEqual([]);
    expect((await listHistory(database.db, adminId)).map((h) => h.operation)).toEqual(['relay_enrolled', 'relay_enrollment']);
  });

  it('refuses a used token for another key, and answers the same id to the same key retrying', async () => {
    const { token } = await createEnrollment(database.db, { label: 'relay C', createdBy: adminId }, T0);
    relayC = (await enroll(keyC, token, 3, at(1))).relayId;
    expect(await enroll(keyC, token, 3, at(2))).toEqual({ relayId: relayC });
    expect(await codeOf(enroll(newKey(), token, 4, at(3)))).toBe('ENROLLMENT_INVALID');
    expect(await countRelays(database.db)).toBe(2);
  });

  it('refuses unknown, expired and revoked tokens', async () => {
    expect(await codeOf(enroll(newKey(), 'x'.repeat(43), 5, T0))).toBe('ENROLLMENT_INVALID');
    const old = await createEnrollment(database.db, { label: 'old', createdBy: adminId }, new Date(T0.getTime() - 25 * 3600_000));
    expect(await codeOf(enroll(newKey(), old.token, 5, T0))).toBe('ENROLLMENT_INVALID');
    const revoked = await createEnrollment(database.db, { label: 'revoked', createdBy: adminId }, T0);
    await revokeEnrollment(database.db, revoked.enrollment.id);
    expect(await codeOf(enroll(newKey(), revoked.token, 5, T0))).toBe('ENROLLMENT_INVALID');
    expect(await codeOf(revokeEnrollment(database.db, revoked.enrollment.id))).toBe('NOT_FOUND');
  });

  it('refuses an enrollment not signed by the key it presents, without using up the token', async () => {
    const { token } = await createEnrollment(database.db, { label: 'relay 6', createdBy: adminId }, T0);
    const real = newKey();
    const m = signed(newKey(), RELAY_ENROLL_PATH, { ...report(6), token, publicKey: real.publicKey, at: T0.getTime() });
    expect(await codeOf(enrollRelay(database.db, m.body, m.signature, 10, T0))).toBe('RELAY_SIGNATURE_INVALID');
    expect(await codeOf(enrollRelay(database.db, m.body, null, 10, T0))).toBe('RELAY_SIGNATURE_INVALID');
    // The token is still good for the relay that really holds the key.
    expect((await enroll(real, token, 6, T0)).relayId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses a second relay at a URL already registered, and a key already pinned by another relay', async () => {
    const t1 = await createEnrollment(database.db, { label: 'dup url', createdBy: adminId }, T0);
    expect(await codeOf(enroll(newKey(), t1.token, 1, T0))).toBe('RELAY_URL_IN_USE');
    expect(await codeOf(enroll(keyA, t1.token, 7, T0))).toBe('CONFLICT');
  });

  // The attack of issue #13: relay C's operator re-announces relay A's id with C's own URL, so that
  // browsers send A's read tokens to C. Now C can sign only as C, and no heartbeat moves a URL.
  it('refuses a relay heartbeating as another relay, and never takes a URL from a heartbeat', async () => {
    expect(await codeOf(heartbeat(keyC, relayA, 3, at(10_000)))).toBe('RELAY_SIGNATURE_INVALID');
    const answer = await heartbeat(keyC, relayC, 3, at(10_000), { url: 'http://127.0.0.1:9010', name: 'relay-1' });
    expect(answer.registered).toEqual({ url: 'http://127.0.0.1:9030', name: 'relay-3', location: 'Lab' });
    const views = await listRelays(database.db, at(10_000), 30_000);
    expect(views.find((r) => r.id === relayA)?.url).toBe('http://127.0.0.1:9010');
    expect(views.find((r) => r.id === relayC)).toMatchObject({ url: 'http://127.0.0.1:9030', name: 'relay-3' });
  });

  it('accepts a signed heartbeat once: replays, older and skewed messages are refused', async () => {
    const m = signed(keyA, RELAY_HEARTBEAT_PATH, { ...report(1, { usedBytes: 42 }), relayId: relayA, at: at(20_000).getTime() });
    await acceptHeartbeat(database.db, m.body, m.signature, at(20_000));
    expect(await codeOf(acceptHeartbeat(database.db, m.body, m.signature, at(21_000)))).toBe('RELAY_SIGNATURE_INVALID');
    expect(await codeOf(heartbeat(keyA, relayA, 1, at(19_000)))).toBe('RELAY_SIGNATURE_INVALID');
    const future = signed(keyA, RELAY_HEARTBEAT_PATH, { ...report(1), relayId: relayA, at: at(500_000).getTime() });
    expect(await codeOf(acceptHeartbeat(database.db, future.body, future.signature, at(30_000)))).toBe('RELAY_SIGNATURE_INVALID');
    const [view] = (await listRelays(database.db, at(20_000), 30_000)).filter((r) => r.id === relayA);
    expect(view?.usedBytes).toBe(42);
  });

  it('lets exactly one of many parallel copies of a heartbeat through', async () => {
    const m = signed(keyA, RELAY_HEARTBEAT_PATH, { ...report(1), relayId: relayA, at: at(40_000).getTime() });
    const results = await Promise.all(Array.from({ length: 12 }, () => codeOf(acceptHeartbeat(database.db, m.body, m.signature, at(40_000)))));
    expect(results.filter((r) => r === 'NO_ERROR')).toHaveLength(1);
    expect(results.filter((r) => r === 'RELAY_SIGNATURE_INVALID')).toHaveLength(11);
  });

  it('refuses a signature made for another route (an enrollment signature replayed as a heartbeat)', async () => {
    const body = new TextEncoder().encode(JSON.stringify({ ...report(1), relayId: relayA, at: at(50_000).getTime() }));
    const wrongRoute = sign(null, relaySigningInput(RELAY_ENROLL_PATH, body), keyA.privateKey).toString('base64url');
    expect(await codeOf(acceptHeartbeat(database.db, body, wrongRoute, at(50_000)))).toBe('RELAY_SIGNATURE_INVALID');
    // Non-canonical base64url of a valid signature (last character with non-zero unused bits).
    const good = sign(null, relaySigningInput(RELAY_HEARTBEAT_PATH, body), keyA.privateKey).toString('base64url');
    const bent = good.slice(0, 85) + String.fromCharCode(good.charCodeAt(85) + 1);
    expect(await codeOf(acceptHeartbeat(database.db, body, bent, at(50_000)))).toBe('RELAY_SIGNATURE_INVALID');
    expect(await codeOf(acceptHeartbeat(database.db, body, good, at(50_000)))).toBe('NO_ERROR');
  });

  it('refuses malformed messages with BAD_REQUEST', async () => {
    const garbage = new TextEncoder().encode('{"relayId":');
    expect(await codeOf(acceptHeartbeat(database.db, garbage, null, T0))).toBe('BAD_REQUEST');
    expect(await codeOf(acceptHeartbeat(database.db, new Uint8Array([0xff, 0xfe]), null, T0))).toBe('BAD_REQUEST');
    expect(await codeOf(enrollRelay(database.db, new TextEncoder().encode('[]'), null, 10, T0))).toBe('BAD_REQUEST');
  });

  it('changes URL and name only by an administrator, recorded in the history', async () => {
    await updateRelay(database.db, adminId, relayC, { url: 'http://127.0.0.1:9031/', name: 'relay-c' });
    const view = (await listRelays(database.db, at(10_000), 30_000)).find((r) => r.id === relayC);
    expect(view).toMatchObject({ url: 'http://127.0.0.1:9031', name: 'relay-c' });
    const [last] = await listHistory(database.db, adminId);
    expect(last).toMatchObject({ operation: 'relay_changed', fileName: 'relay-c', detail: expect.stringContaining('url: http://127.0.0.1:9030 -> http://127.0.0.1:9031') });
    expect(await codeOf(updateRelay(database.db, adminId, relayC, { url: 'http://127.0.0.1:9010' }))).toBe('RELAY_URL_IN_USE');
    expect(await codeOf(updateRelay(database.db, adminId, relayC, { url: 'javascript:alert(1)' }))).toBe('BAD_REQUEST');
    expect(await codeOf(updateRelay(database.db, adminId, randomUUID(), { name: 'x' }))).toBe('NOT_FOUND');
    expect(await codeOf(updateRelay(database.db, adminId, relayC, {}))).toBe('BAD_REQUEST');
  });

  it('moves a relay registered with the old join secret to a pinned key, keeping its id and URL', async () => {
    const legacy = randomUUID();
    await database.db.insert(relays).values({
      id: legacy,
      name: 'legacy',
      location: 'Lab',
      url: 'http://127.0.0.1:9090',
      version: '0.0.9',
      storage: 'Disk',
      freeBytes: 1,
      usedBytes: 0,
      lastHeartbeat: T0
    });
    expect((await listRelays(database.db, T0, 30_000)).find((r) => r.id === legacy)).toMatchObject({ enrolled: false, status: 'offline', fingerprint: null });
    const key = newKey();
    expect(await codeOf(heartbeat(key, legacy, 9, at(1000)))).toBe('ENROLLMENT_REQUIRED');
    const { token } = await createEnrollment(database.db, { label: 'legacy', relayId: legacy, createdBy: adminId }, T0);
    // The relay proposes another URL: a re-key keeps the one an administrator knows.
    expect(await enroll(key, token, 9, at(2000), { url: 'http://127.0.0.1:9999' })).toEqual({ relayId: legacy });
    await heartbeat(key, legacy, 9, at(3000));
    expect((await listRelays(database.db, at(3000), 30_000)).find((r) => r.id === legacy)).toMatchObject({ enrolled: true, status: 'online', url: 'http://127.0.0.1:9090' });
    expect((await listHistory(database.db, adminId))[0]).toMatchObject({ operation: 'relay_enrolled', detail: expect.stringContaining('key replaced') });
    expect(await codeOf(createEnrollment(database.db, { label: 'x', relayId: randomUUID(), createdBy: adminId }, T0))).toBe('NOT_FOUND');
  });

  it('holds the licence relay cap under parallel enrollments', async () => {
    const before = await countRelays(database.db);
    const limit = before + 2;
    const tokens = await Promise.all(Array.from({ length: 8 }, (_, i) => createEnrollment(database.db, { label: `p${i}`, createdBy: adminId }, T0)));
    const results = await Promise.all(tokens.map((t, i) => codeOf(enroll(newKey(), t.token, 0, T0, { url: `http://127.0.0.2:${7000 + i}` }, limit))));
    expect(results.filter((r) => r === 'NO_ERROR')).toHaveLength(2);
    expect(results.filter((r) => r === 'LICENSE_LIMIT')).toHaveLength(6);
    expect(await countRelays(database.db)).toBe(limit);
  });

  it('imports provisioned enrollment hashes idempotently', async () => {
    const token = 'p'.repeat(43);
    const entries = [{ tokenHash: hashEnrollmentToken(token), label: 'provisioned' }];
    expect(await importProvisionedEnrollments(database.db, entries, T0)).toBe(1);
    expect(await importProvisionedEnrollments(database.db, entries, T0)).toBe(0);
    await database.db.delete(relays).where(eq(relays.url, 'http://127.0.0.1:9080'));
    expect((await enroll(newKey(), token, 8, T0, {}, 100)).relayId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await codeOf(importProvisionedEnrollments(database.db, [{ tokenHash: 'nope', label: 'x' }], T0))).toBe('BAD_REQUEST');
  });

  it('stores names with SQL metacharacters verbatim and byte counts above 2^32 exactly', async () => {
    const name = `x'); drop table relays; --`;
    const big = 5 * 2 ** 40;
    await heartbeat(keyA, relayA, 1, at(60_000), { name, freeBytes: big });
    const view = (await listRelays(database.db, at(60_000), 30_000)).find((r) => r.id === relayA);
    // The name in a heartbeat is only a proposal; the byte counts are taken.
    expect(view).toMatchObject({ name: 'relay-1', freeBytes: big });
    await updateRelay(database.db, adminId, relayA, { name });
    expect((await listRelays(database.db, at(60_000), 30_000)).map((r) => r.name)).toContain(name);
  });

  it('keeps free space a relay does not report (S3) as null, and refuses malformed or unbounded byte counts', async () => {
    await heartbeat(keyA, relayA, 1, at(70_000), { storage: 'S3', freeBytes: null, usedBytes: 4096 });
    expect((await listRelays(database.db, at(70_000), 30_000)).find((r) => r.id === relayA)).toMatchObject({ storage: 'S3', freeBytes: null, usedBytes: 4096 });
    for (const [i, freeBytes] of ['1', -1, 1.5, 2 ** 53, { n: 1 }, [1]].entries()) {
      expect(await codeOf(heartbeat(keyA, relayA, 1, at(71_000 + i), { freeBytes }))).toBe('BAD_REQUEST');
    }
    // Refused heartbeats changed nothing; a later well-formed one reports a figure again.
    expect((await listRelays(database.db, at(72_000), 30_000)).find((r) => r.id === relayA)?.freeBytes).toBeNull();
    await heartbeat(keyA, relayA, 1, at(73_000), { freeBytes: 2 ** 40 });
    expect((await listRelays(database.db, at(73_000), 30_000)).find((r) => r.id === relayA)?.freeBytes).toBe(2 ** 40);
  });
});

it('orders relays for a new share by free space, those that report none last', () => {
  const rs = [
    { id: 's3', freeBytes: null },
    { id: 'small', freeBytes: 10 },
    { id: 'big', freeBytes: 2 ** 45 },
    { id: 'full', freeBytes: 0 }
  ];
  expect(rs.sort(byFreeSpace).map((r) => r.id)).toEqual(['big', 'small', 'full', 's3']);
});
