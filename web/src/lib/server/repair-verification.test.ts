/**
 * The owner's verification of repaired shares (repair-verification.ts, verification-api.ts: the logic behind
 * GET /api/files/verification and POST /api/files/[id]/verification) on PGlite and PostgreSQL with real relay
 * processes. A repair and a drain move leave the share awaiting the owner; only the owner sees and reports it;
 * malformed, oversized and stale reports are refused with their codes and change nothing; a success is recorded
 * once; a failure (a share whose bytes were flipped on the relay after the repair: its listing still matches, so
 * only authentication can tell) marks it damaged through checks, queues a repair that rebuilds it, and the share
 * awaits the owner again. The HTTP layer (signed out, CSRF, the page) is exercised in
 * e2e/tests/repair-verification.spec.ts.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { codeOf } from '@kofn/shared/testing';
import { and, eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { files, history, jobs, shareHealth, shareVerifications } from './db/schema.js';
import { createUser } from './auth.js';
import { ensureSigningKey } from './signing-keys.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import type { Ctx } from './file-access.js';
import { runOne } from './jobs.js';
import { listFiles, manifest, sharedWithMe } from './files.js';
import { grantOne } from './grants.js';
import { checkFile, fileHealthFor, healthJobHandlers } from './health.js';
import { repairJobHandlers } from './repair.js';
import { drainRelay, lifecycleHandlers } from './relay-lifecycle.js';
import { MAX_VERIFICATION_BODY, pendingVerifications, reportVerification } from './verification-api.js';
import { readJson } from './http.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect, retrieve, retrieveWith } from './testing/protect.js';

/** The folder holding a file's share chunks on a disk relay at epoch 0 (relay/src/storage/disk.ts). */
const shareDir = (r: TestRelay, fileId: string) => join(r.dataDir, 'chunks', fileId.slice(0, 2), fileId);

describeDatabases('the owner verifies repaired shares on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let alice: Ctx;
  let bob: Ctx;
  let adminId: string;
  let fileId: string;
  const data = new Uint8Array(randomBytes(300_007));
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, relays: 10 } };
  const timeouts = { headersMs: 5_000, putHeadersMs: 5_000, idleMs: 5_000, totalMs: 30_000 };

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 4);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const mk = (email: string, role: 'user' | 'admin' = 'user') => createUser(database.db, { email, displayName: email, password: 'password 123', role }, 10);
    alice = { db: database.db, user: await mk('alice@x.test'), license, key, config };
    bob = { db: database.db, user: await mk('bob@x.test'), license, key, config };
    adminId = (await mk('admin@x.test', 'admin')).id;
    fileId = await protect(
      alice,
      'repaired.bin',
      data,
      2,
      relays.slice(0, 3).map((r) => r.id)
    );
    await checkFile(database.db, key, fileId);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await database.drop();
  });

  async function drainJobs(): Promise<void> {
    const handlers = {
      ...healthJobHandlers(database.db, alice.key, timeouts),
      ...repairJobHandlers(database.db, alice.key, timeouts),
      ...lifecycleHandlers({ db: database.db, key: alice.key, offlineAfterMs: 3600_000, timeouts })
    };
    while (await runOne(database.db, 'test', handlers)) {
      /* next */
    }
  }
  const rows = () => database.db.select().from(shareVerifications).where(eq(shareVerifications.fileId, fileId));
  const repairHistory = () =>
    database.db
      .select({ result: history.result, detail: history.detail })
      .from(history)
      .where(and(eq(history.fileId, fileId), eq(history.operation, 'repair')))
      .orderBy(history.id);
  const listed = async (ctx: Ctx) => (await listFiles(ctx)).find((f) => f.id === fileId)!;
  /** Loses `r`'s share of the file, lets the check find it and the repair job rebuild it. */
  async function loseAndRepair(r: TestRelay): Promise<void> {
    rmSync(shareDir(r, fileId), { recursive: true, force: true });
    await checkFile(database.db, alice.key, fileId);
    await drainJobs();
  }

  it('a completed repair awaits the owner: GET and the owner’s list name the share; a grantee and a stranger see nothing', async () => {
    const [r0] = relays as [TestRelay];
    expect(await pendingVerifications(alice)).toEqual({ files: [] });
    await loseAndRepair(r0);
    expect((await fileHealthFor(database.db, { id: fileId, k: 2, n: 3 }))?.state).toBe('healthy');
    expect(await pendingVerifications(alice)).toEqual({ files: [{ fileId, k: 2, epoch: 0, relayIds: [r0.id] }] });
    const row = await listed(alice);
    expect([row.verify, row.verifiedAt]).toEqual([{ epoch: 0, relayIds: [r0.id] }, null]);
    expect((await rows()).map((r) => [r.relayId, r.state, r.epoch, r.verifiedAt])).toEqual([[r0.id, 'pending', 0, null]]);

    await grantOne(database.db, alice, { id: fileId, name: 'repaired.bin' }, ['bob@x.test'], 'add_read');
    expect(await pendingVerifications(bob)).toEqual({ files: [] });
    const shared = (await sharedWithMe(bob)).find((f) => f.id === fileId)!;
    expect('verify' in shared || 'verifiedAt' in shared).toBe(false);
  }, 120_000);

  it('refuses strangers, grantees, malformed, oversized and stale reports with their codes, changing nothing', async () => {
    const [r0, r1, , r3] = relays as [TestRelay, TestRelay, TestRelay, TestRelay];
    const good = { epoch: 0, relayIds: [r0.id], ok: true };
    // A grantee (bob holds read access) and a stranger get the 404 a missing file gets.
    expect(await codeOf(reportVerification(bob, fileId, good))).toBe('NOT_FOUND');
    const carol: Ctx = { ...bob, user: await createUser(database.db, { email: 'carol@x.test', displayName: 'Carol', password: 'password 123', role: 'user' }, 10) };
    expect(await codeOf(reportVerification(carol, fileId, good))).toBe('NOT_FOUND');
    expect(await codeOf(reportVerification(alice, 'not-a-file-id', good))).toBe('NOT_FOUND');
    expect(await codeOf(reportVerification(alice, '0'.repeat(32), good))).toBe('NOT_FOUND');

    const malformed: Array<[Record<string, unknown>, string]> = [
      [{}, 'WRONG_VALUE'],
      [{ ...good, epoch: -1 }, 'WRONG_VALUE'],
      [{ ...good, epoch: 1.5 }, 'WRONG_VALUE'],
      [{ ...good, epoch: '0' }, 'WRONG_VALUE'],
      [{ ...good, relayIds: [] }, 'WRONG_VALUE'],
      [{ ...good, relayIds: 'r0' }, 'WRONG_VALUE'],
      [{ ...good, relayIds: ['not a relay'] }, 'WRONG_VALUE'],
      [{ ...good, relayIds: [r0.id, r0.id] }, 'WRONG_VALUE'],
      [{ ...good, relayIds: Array.from({ length: 256 }, () => r0.id) }, 'WRONG_VALUE'],
      [{ ...good, ok: 'yes' }, 'WRONG_VALUE'],
      [{ ...good, badRelayIds: [r0.id] }, 'WRONG_VALUE'],
      [{ ...good, ok: false }, 'WRONG_VALUE'],
      [{ ...good, ok: false, badRelayIds: [] }, 'WRONG_VALUE'],
      [{ ...good, ok: false, badRelayIds: [r1.id] }, 'WRONG_VALUE'],
      [{ ...good, extra: 1 }, 'BAD_REQUEST']
    ];
    for (const [body, code] of malformed) expect(await codeOf(reportVerification(alice, fileId, body)), JSON.stringify(body).slice(0, 80)).toBe(code);

    // The route's body limit: counted as the bytes arrive, whatever Content-Length says.
    const huge = JSON.stringify({ ...good, pad: 'x'.repeat(MAX_VERIFICATION_BODY) });
    expect(await codeOf(readJson(new Request('http://x.test/', { method: 'POST', body: huge }), MAX_VERIFICATION_BODY))).toBe('PAYLOAD_TOO_LARGE');
    expect(await codeOf(readJson(new Request('http://x.test/', { method: 'POST', body: '{"epoch":' }), MAX_VERIFICATION_BODY))).toBe('BAD_REQUEST');

    // Another epoch than the file's (a renewal meanwhile, or a replay of an old report), a share never repaired
    // (r1), a relay not holding the file (r3): stale, 409.
    expect(await codeOf(reportVerification(alice, fileId, { ...good, epoch: 1 }))).toBe('VERIFICATION_STALE');
    expect(await codeOf(reportVerification(alice, fileId, { ...good, relayIds: [r1.id] }))).toBe('VERIFICATION_STALE');
    expect(await codeOf(reportVerification(alice, fileId, { ...good, relayIds: [r0.id, r3.id] }))).toBe('VERIFICATION_STALE');
    expect(await codeOf(reportVerification(alice, fileId, { ...good, ok: false, relayIds: [r0.id, r1.id], badRelayIds: [r1.id] }))).toBe('VERIFICATION_STALE');

    // Nothing changed: still pending, no history entry beyond the repair's own, no repair queued.
    expect((await rows()).map((r) => [r.relayId, r.state])).toEqual([[r0.id, 'pending']]);
    expect((await repairHistory()).map((h) => h.result)).toEqual(['ok']);
    expect((await database.db.select().from(jobs).where(eq(jobs.kind, 'repair-share'))).map((j) => j.status)).toEqual(['done']);
  }, 60_000);

  it('a success is recorded with its time and one history entry; a repeat changes nothing; a contrary replay is stale', async () => {
    const [r0] = relays as [TestRelay];
    const at = new Date('2026-12-01T10:00:00.000Z');
    expect(await reportVerification(alice, fileId, { epoch: 0, relayIds: [r0.id], ok: true }, at)).toEqual({ fileId, epoch: 0, verified: [r0.id], failed: [] });
    expect((await rows()).map((r) => [r.relayId, r.state, r.verifiedAt?.toISOString()])).toEqual([[r0.id, 'verified', at.toISOString()]]);
    const row = await listed(alice);
    expect([row.verify, row.verifiedAt]).toEqual([null, at.toISOString()]);
    expect(await pendingVerifications(alice)).toEqual({ files: [] });
    const entries = await repairHistory();
    expect(entries).toHaveLength(2);
    expect(entries[1]).toEqual({ result: 'ok', detail: `repaired share on ${r0.name} authenticated by your browser at epoch 0` });

    expect(await reportVerification(alice, fileId, { epoch: 0, relayIds: [r0.id], ok: true }, new Date())).toEqual({ fileId, epoch: 0, verified: [], failed: [] });
    expect((await rows())[0]!.verifiedAt?.toISOString()).toBe(at.toISOString());
    expect(await repairHistory()).toHaveLength(2);
    expect(await codeOf(reportVerification(alice, fileId, { epoch: 0, relayIds: [r0.id], ok: false, badRelayIds: [r0.id] }))).toBe('VERIFICATION_STALE');
    expect((await fileHealthFor(database.db, { id: fileId, k: 2, n: 3 }))?.state).toBe('healthy');
  }, 60_000);

  it('a share repaired wrongly (bytes flipped after the repair): checks pass, authentication fails; the report marks it damaged and the repair job rebuilds it', async () => {
    const [r0, r1] = relays as [TestRelay, TestRelay];
    await loseAndRepair(r1);
    expect(await pendingVerifications(alice)).toEqual({ files: [{ fileId, k: 2, epoch: 0, relayIds: [r1.id] }] });
    // Flip a byte of a data chunk's body on r1, keeping its file name (the digest the relay lists).
    const dir = shareDir(r1, fileId);
    const name = readdirSync(dir).find((n) => n.startsWith('1.'))!;
    const bytes = readFileSync(join(dir, name));
    bytes[bytes.length - 3]! ^= 0x40;
    writeFileSync(join(dir, name), bytes);
    // The coordinator cannot tell: the listing still matches the committed root.
    await checkFile(database.db, alice.key, fileId);
    expect((await fileHealthFor(database.db, { id: fileId, k: 2, n: 3 }))?.shares.map((s) => s.state)).toEqual(['ok', 'ok', 'ok']);
    // Authentication can: rebuilding with r1's share and another fails.
    const m = await manifest(alice, fileId);
    const withBad = { ...m, placements: [m.placements.find((p) => p.relayId === r1.id)!, m.placements.find((p) => p.relayId === r0.id)!] };
    expect(await codeOf(retrieveWith(withBad))).toBe('AUTH_FAILED');

    expect(await reportVerification(alice, fileId, { epoch: 0, relayIds: [r1.id], ok: false, badRelayIds: [r1.id] })).toEqual({ fileId, epoch: 0, verified: [], failed: [r1.id] });
    const damaged = await fileHealthFor(database.db, { id: fileId, k: 2, n: 3 });
    expect(damaged?.state).toBe('at_risk');
    expect(damaged?.shares.find((s) => s.relayId === r1.id)).toMatchObject({ state: 'damaged', detail: "failed authentication in the owner's browser after a repair; repair queued" });
    expect((await listed(alice)).verify).toBeNull();
    expect((await repairHistory()).at(-1)).toEqual({ result: 'error', detail: `repaired share on ${r1.name} failed authentication in your browser at epoch 0: marked damaged, repair queued` });
    // A repeat changes nothing; a check (whose listing still matches) does not clear the damage.
    expect(await reportVerification(alice, fileId, { epoch: 0, relayIds: [r1.id], ok: false, badRelayIds: [r1.id] })).toEqual({ fileId, epoch: 0, verified: [], failed: [] });
    const historyBefore = (await repairHistory()).length;
    await checkFile(database.db, alice.key, fileId);
    expect((await fileHealthFor(database.db, { id: fileId, k: 2, n: 3 }))?.shares.find((s) => s.relayId === r1.id)?.state).toBe('damaged');
    const [queued] = await database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, 'repair-share'), eq(jobs.key, `${fileId}:${r1.id}`)));
    expect(queued?.status).toBe('pending');

    // The repair job drops the flipped chunks and rebuilds the share from good helpers: it awaits the owner again.
    await drainJobs();
    expect((await fileHealthFor(database.db, { id: fileId, k: 2, n: 3 }))?.state).toBe('healthy');
    expect(await pendingVerifications(alice)).toEqual({ files: [{ fileId, k: 2, epoch: 0, relayIds: [r1.id] }] });
    expect((await repairHistory()).length).toBe(historyBefore + 1);
    expect(Buffer.from(await retrieveWith(withBad)).equals(Buffer.from(data))).toBe(true);
    expect(await reportVerification(alice, fileId, { epoch: 0, relayIds: [r1.id], ok: true })).toMatchObject({ verified: [r1.id] });
  }, 120_000);

  it('a renewal meanwhile makes a report stale; a drain move awaits the owner on the new relay', async () => {
    const [, , r2, r3] = relays as [TestRelay, TestRelay, TestRelay, TestRelay];
    await drainRelay(database.db, adminId, r2.id);
    await drainJobs();
    expect(await pendingVerifications(alice)).toEqual({ files: [{ fileId, k: 2, epoch: 0, relayIds: [r3.id] }] });
    expect((await rows()).map((r) => r.relayId).includes(r2.id)).toBe(false);
    expect(Buffer.from(await retrieve(alice, fileId)).equals(Buffer.from(data))).toBe(true);
    // The file's epoch moves on (as a renewal's switch would) before the owner's report lands.
    await database.db.update(files).set({ epoch: 1 }).where(eq(files.id, fileId));
    expect(await codeOf(reportVerification(alice, fileId, { epoch: 0, relayIds: [r3.id], ok: true }))).toBe('VERIFICATION_STALE');
    expect(await pendingVerifications(alice)).toEqual({ files: [{ fileId, k: 2, epoch: 1, relayIds: [r3.id] }] });
    expect((await rows()).find((r) => r.relayId === r3.id)?.state).toBe('pending');
    const [h] = await database.db
      .select()
      .from(shareHealth)
      .where(and(eq(shareHealth.fileId, fileId), eq(shareHealth.relayId, r3.id)));
    expect(h?.authFailedAt).toBeNull();
  }, 120_000);
});
