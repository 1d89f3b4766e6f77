/**
 * File health (issue #16): the periodic check over real relay processes, on PGlite and PostgreSQL.
 * Four relays; files on relays 1-3 at (2,3) and (3,3), one on relays 2-4. Relay 1's whole data folder is
 * deleted, relay 2 is made to hold other chunks than were committed, relay 4 goes offline, and relay 3's
 * scrub reports bit rot with a signed message.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq, sql } from 'drizzle-orm';
import { MAX_SCRUB_ENTRIES, RELAY_HEARTBEAT_PATH, RELAY_SCRUB_PATH, RelayClient, relaySigningInput } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { jobs, relays as relaysTable, shareHealth } from './db/schema.js';
import { createUser, type User } from './auth.js';
import { ensureSigningKey, mintCapability } from './signing-keys.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import { listFiles, manifest } from './files.js';
import type { Ctx } from './file-access.js';
import { runOne } from './jobs.js';
import { listHistory } from './history.js';
import { acceptScrubReport, checkFile, healthCounts, healthJobHandlers, healthState, scheduleChecks } from './health.js';
import { checkFileFor, fileHealthForUser } from './health-api.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect } from './testing/protect.js';

const code = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (err: unknown) => (err as { code?: string }).code
  );

describe('healthState', () => {
  it('names the state from the shares confirmed good', () => {
    expect([3, 2, 1].map((good) => healthState(2, 3, good))).toEqual(['healthy', 'at_risk', 'unrecoverable']);
    expect([5, 4, 3, 2].map((good) => healthState(3, 5, good))).toEqual(['healthy', 'degraded', 'at_risk', 'unrecoverable']);
    expect([5, 4].map((good) => healthState(5, 5, good))).toEqual(['healthy', 'unrecoverable']);
  });
});

describeDatabases('file health on $name', { once: true }, ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let alice: Ctx;
  let bob: Ctx;
  const checkingMs = 60_000;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, relays: 10 } };
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 4);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600', KOFN_CHECKING_MINUTES: '1' });
    const mk = async (email: string): Promise<User> => createUser(database.db, { email, displayName: email, password: 'password 123', role: 'user' }, 10);
    alice = { db: database.db, user: await mk('alice@x.test'), license, key, config };
    bob = { db: database.db, user: await mk('bob@x.test'), license, key, config };
    const first3 = relays.slice(0, 3).map((r) => r.id);
    ids.empty = await protect(alice, 'empty.bin', new Uint8Array(0), 2, first3);
    ids.two = await protect(alice, 'two-of-three.bin', randomBytes(300_000), 2, first3);
    ids.three = await protect(alice, 'three-of-three.bin', randomBytes(70_000), 3, first3);
    ids.other = await protect(
      alice,
      'elsewhere.bin',
      randomBytes(5_000),
      2,
      relays.slice(1, 4).map((r) => r.id)
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await database.drop();
  });

  /** Runs every due job (the scheduler's loop, without its timer). */
  async function drainJobs(): Promise<void> {
    const handlers = healthJobHandlers(database.db, alice.key, alice.config.relayTimeouts);
    while (await runOne(database.db, 'test', handlers)) {
      /* next */
    }
  }
  const stateOf = async (name: string) => (await listFiles(alice)).find((f) => f.name === name)!.health;
  /** A checking period passes: every recorded check is that much older. */
  const agePeriod = () => database.db.update(shareHealth).set({ checkedAt: sql`${shareHealth.checkedAt} - interval '61 seconds'` });
  const checks = async () => (await listHistory(database.db, alice.user.id)).filter((h) => h.operation === 'check');

  it('before any check a file has no health; the first period checks every file and finds them healthy', async () => {
    expect(await stateOf('two-of-three.bin')).toBeNull();
    expect(await healthCounts(database.db)).toMatchObject({ unchecked: 4, healthy: 0 });
    expect(await scheduleChecks(database.db, checkingMs)).toBe(4);
    await drainJobs();
    for (const name of ['empty.bin', 'two-of-three.bin', 'three-of-three.bin', 'elsewhere.bin']) {
      const h = await stateOf(name);
      expect(h?.state, name).toBe('healthy');
      expect(h?.shares.every((s) => s.state === 'ok')).toBe(true);
    }
    expect(await healthCounts(database.db)).toEqual({ healthy: 4, degraded: 0, at_risk: 0, unrecoverable: 0, unchecked: 0 });
    // Checked within the period: nothing is due again.
    expect(await scheduleChecks(database.db, checkingMs)).toBe(0);
    expect(await checks()).toEqual([]);
  });

  it('one relay data folder deleted: the next period finds every file it held, names the relay, records the damage once', async () => {
    rmSync(relays[0]!.dataDir, { recursive: true, force: true });
    await agePeriod();
    expect(await scheduleChecks(database.db, checkingMs)).toBe(4);
    await drainJobs();
    const two = await stateOf('two-of-three.bin');
    expect(two?.state).toBe('at_risk');
    expect(two?.shares.find((s) => s.relayId === relays[0]!.id)).toMatchObject({ name: 'test-relay-1', state: 'missing' });
    expect(two?.shares.filter((s) => s.state === 'ok')).toHaveLength(2);
    expect((await stateOf('empty.bin'))?.state).toBe('at_risk');
    expect((await stateOf('three-of-three.bin'))?.state).toBe('unrecoverable');
    expect((await stateOf('elsewhere.bin'))?.state).toBe('healthy');
    expect(await healthCounts(database.db)).toEqual({ healthy: 1, degraded: 0, at_risk: 2, unrecoverable: 1, unchecked: 0 });

    const found = await checks();
    expect(found.map((h) => h.fileName).sort()).toEqual(['empty.bin', 'three-of-three.bin', 'two-of-three.bin']);
    expect(found.every((h) => h.result === 'error' && h.detail.includes('missing on test-relay-1'))).toBe(true);
    // The same loss found again next period is not a new entry.
    await agePeriod();
    expect(await scheduleChecks(database.db, checkingMs)).toBe(4);
    await drainJobs();
    expect(await checks()).toHaveLength(3);
  });

  it('a relay holding other chunks than were committed is damaged; an offline relay is unreachable and not recorded as damage', async () => {
    // Relay 2 is handed a different chunk 1 of "elsewhere.bin" (a token the coordinator minted: the
    // relay's store accepts it; what it holds is no longer what was committed).
    const m = await manifest(alice, ids.other);
    const p2 = m.placements.find((p) => p.relayId === relays[1]!.id)!;
    const token = await mintCapability(alice.key, { relayId: p2.relayId, userId: alice.user.id, fid: ids.other!, op: 'put', chunks: [0, 1], max: 1 << 20, ttl: 60 });
    const stored = await new RelayClient({ id: p2.relayId, name: p2.name, url: p2.url }, { token: () => p2.token }).get(ids.other!, 1, 1 << 20);
    const altered = new Uint8Array(stored);
    altered[altered.length - 1]! ^= 1;
    const del = await mintCapability(alice.key, { relayId: p2.relayId, userId: alice.user.id, fid: ids.other!, op: 'delete', chunks: [1, 1], ttl: 60 });
    const ref = { id: p2.relayId, name: p2.name, url: p2.url };
    expect(await new RelayClient(ref, { token: () => del }).deleteChunk(ids.other!, 1)).toBe(true);
    await new RelayClient(ref, { token: () => token }).put(ids.other!, 1, altered);

    await relays[3]!.stop(true);
    const health = await checkFile(database.db, alice.key, ids.other!, { ...alice.config.relayTimeouts, headersMs: 2000, totalMs: 4000 });
    expect(health?.state).toBe('unrecoverable');
    const byName = Object.fromEntries(health!.shares.map((s) => [s.name, s.state]));
    expect(byName).toEqual({ 'test-relay-2': 'damaged', 'test-relay-3': 'ok', 'test-relay-4': 'unreachable' });
    const entry = (await checks()).find((h) => h.fileName === 'elsewhere.bin');
    expect(entry?.detail).toContain('damaged on test-relay-2');
    expect(entry?.detail).not.toContain('test-relay-4');
    await relays[3]!.restart();
  }, 30_000);

  it('the file health API: owner and grantee read it, only the owner checks now, a stranger gets 404', async () => {
    const view = await fileHealthForUser(alice, ids.two);
    expect(view.health?.state).toBe('at_risk');
    const now = await checkFileFor(alice, ids.two);
    expect(now.health.shares.map((s) => s.state).sort()).toEqual(['missing', 'ok', 'ok']);
    expect(await code(fileHealthForUser(bob, ids.two))).toBe('NOT_FOUND');
    expect(await code(checkFileFor(bob, ids.two))).toBe('NOT_FOUND');
    expect(await code(fileHealthForUser(alice, '../etc'))).toBe('NOT_FOUND');
  });

  describe('scrub reports', () => {
    const key = generateKeyPairSync('ed25519');
    const relay3 = () => relays[2]!;
    const signed = (path: string, message: object) => {
      const body = new TextEncoder().encode(JSON.stringify(message));
      return { body, signature: sign(null, relaySigningInput(path, body), key.privateKey).toString('base64url') };
    };
    let at = Date.now();
    const report = (corrupt: Array<{ fileId: string; index: number }>, over: Record<string, unknown> = {}) => {
      at += 1000;
      return signed(RELAY_SCRUB_PATH, { relayId: relay3().id, at, checked: 10, corrupt, ...over });
    };

    beforeAll(async () => {
      // Relay 3's pinned key is one this test holds, as enrollment would have pinned it.
      const publicKey = key.publicKey.export({ format: 'jwk' }).x!;
      await database.db.update(relaysTable).set({ publicKey, lastSignedAt: 0 }).where(eq(relaysTable.id, relay3().id));
    });

    it('marks the reported share damaged, names the relay in the history, and a clean report clears it', async () => {
      const r = report([
        { fileId: ids.two!, index: 1 },
        { fileId: ids.two!, index: 2 }
      ]);
      expect(await acceptScrubReport(database.db, r.body, r.signature)).toEqual({ damagedFiles: 1 });
      const h = await stateOf('two-of-three.bin');
      expect(h?.shares.find((s) => s.relayId === relay3().id)).toMatchObject({ state: 'damaged' });
      expect(h?.state).toBe('unrecoverable');
      expect((await checks()).some((e) => e.fileName === 'two-of-three.bin' && e.detail.includes('damaged on test-relay-3: scrub found 2 chunk(s)'))).toBe(true);
      // The same damage reported again is not a new history entry.
      const entries = (await checks()).length;
      const again = report([
        { fileId: ids.two!, index: 1 },
        { fileId: ids.two!, index: 2 }
      ]);
      await acceptScrubReport(database.db, again.body, again.signature);
      expect(await checks()).toHaveLength(entries);
      // A listing cannot see bit rot, so a check keeps the scrub's verdict.
      await checkFile(database.db, alice.key, ids.two!);
      expect((await stateOf('two-of-three.bin'))?.shares.find((s) => s.relayId === relay3().id)?.state).toBe('damaged');
      const clean = report([]);
      await acceptScrubReport(database.db, clean.body, clean.signature);
      expect((await stateOf('two-of-three.bin'))?.shares.find((s) => s.relayId === relay3().id)?.state).toBe('ok');
    });

    it('refuses replays, other relays\u2019 signatures, signatures made for another route, and old messages', async () => {
      const r = report([{ fileId: ids.two!, index: 1 }]);
      await acceptScrubReport(database.db, r.body, r.signature);
      expect(await code(acceptScrubReport(database.db, r.body, r.signature))).toBe('RELAY_SIGNATURE_INVALID');
      const other = generateKeyPairSync('ed25519');
      at += 1000;
      const body = new TextEncoder().encode(JSON.stringify({ relayId: relay3().id, at, checked: 1, corrupt: [] }));
      const forged = sign(null, relaySigningInput(RELAY_SCRUB_PATH, body), other.privateKey).toString('base64url');
      expect(await code(acceptScrubReport(database.db, body, forged))).toBe('RELAY_SIGNATURE_INVALID');
      const wrongRoute = sign(null, relaySigningInput(RELAY_HEARTBEAT_PATH, body), key.privateKey).toString('base64url');
      expect(await code(acceptScrubReport(database.db, body, wrongRoute))).toBe('RELAY_SIGNATURE_INVALID');
      expect(await code(acceptScrubReport(database.db, body, null))).toBe('RELAY_SIGNATURE_INVALID');
      const old = signed(RELAY_SCRUB_PATH, { relayId: relay3().id, at: Date.now() - 3600_000, checked: 1, corrupt: [] });
      expect(await code(acceptScrubReport(database.db, old.body, old.signature))).toBe('RELAY_SIGNATURE_INVALID');
      // Still damaged: none of those reached the state.
      expect((await stateOf('two-of-three.bin'))?.shares.find((s) => s.relayId === relay3().id)?.state).toBe('damaged');
    });

    it('a relay cannot mark shares it does not hold', async () => {
      // "elsewhere.bin" is on relays 2-4 (so relay 3 holds it); a random file id and relay 1's files are not.
      const r = report([{ fileId: randomBytes(16).toString('hex'), index: 0 }]);
      expect(await acceptScrubReport(database.db, r.body, r.signature)).toEqual({ damagedFiles: 0 });
    });

    it('bad input is a 4xx code, never a 500', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ corrupt: 'all' }, 'BAD_REQUEST'],
        [{ corrupt: [{ fileId: 'XYZ', index: 0 }] }, 'BAD_REQUEST'],
        [{ corrupt: [{ fileId: ids.two, index: -1 }] }, 'BAD_REQUEST'],
        [{ corrupt: Array.from({ length: MAX_SCRUB_ENTRIES + 1 }, () => ({ fileId: ids.two, index: 0 })) }, 'BAD_REQUEST'],
        [{ relayId: 'not-a-uuid' }, 'BAD_REQUEST'],
        [{ checked: 1.5 }, 'BAD_REQUEST'],
        [{ relayId: '00000000-0000-4000-8000-000000000000' }, 'RELAY_SIGNATURE_INVALID']
      ];
      for (const [over, expected] of cases) {
        const r = report([], over);
        expect(await code(acceptScrubReport(database.db, r.body, r.signature)), JSON.stringify(over).slice(0, 80)).toBe(expected);
      }
      expect(await code(acceptScrubReport(database.db, new TextEncoder().encode('{not json'), null))).toBe('BAD_REQUEST');
    });
  });

  it('a removed file is no longer checked', async () => {
    const { removeFile } = await import('./files.js');
    await removeFile(alice, ids.empty);
    expect(await checkFile(database.db, alice.key, ids.empty!)).toBeNull();
    await agePeriod();
    expect(await scheduleChecks(database.db, checkingMs)).toBe(3);
    const queued = await database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, 'check-file'), eq(jobs.key, ids.empty!)));
    expect(queued.every((j) => j.status !== 'pending')).toBe(true);
  });
});
