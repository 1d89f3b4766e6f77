/**
 * Repair against a hostile helper relay (issue #13 item 6: "bound every read of relay answers, size and
 * time"). Two real relay processes and one loopback HTTP server registered as an enrolled relay, which
 * stores PUTs and lists them honestly (so the file commits and the hostile relay is a good helper), but
 * answers the coordinator's `POST /v1/repair/:fid/start` with an endless body. The repair must fail with
 * RELAY_ANSWER_TOO_LARGE naming that relay within seconds, having read no more than a small bound,
 * instead of buffering the stream until the 60 s step timeout.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { shareHealth } from './db/schema.js';
import { createUser } from './auth.js';
import { ensureSigningKey } from './signing-keys.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import type { Ctx } from './file-access.js';
import { repairShare } from './repair.js';
import { registerTestRelay, startRelays, type TestRelay } from './testing/relays.js';
import { protect } from './testing/protect.js';
import { LoopbackServer } from './testing/loopback-server.js';

/** Endless answers stop here in any case, so a coordinator without a bound fails the test, not the machine. */
const HOSTILE_CAP_BYTES = 256 * 1024 * 1024;

class HostileHelper extends LoopbackServer {
  readonly id = randomUUID();
  readonly name = 'hostile-helper';
  /** Bytes of repair answers written before the coordinator hung up. */
  written = 0;
  starts = 0;
  private readonly stored = new Map<string, Array<{ index: number; size: number; digest: string }>>();

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    const chunk = /^\/v1\/files\/([0-9a-f]{32})\/chunks(?:\/(\d+))?$/.exec(url);
    if (chunk && req.method === 'PUT') {
      const [, fileId, index] = chunk;
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        size += c.length;
      });
      req.on('end', () => {
        const digest = hash.digest('hex');
        const list = this.stored.get(fileId!) ?? [];
        list.push({ index: Number(index), size, digest });
        this.stored.set(fileId!, list);
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ index: Number(index), size, digest, created: true }));
      });
      return;
    }
    if (chunk && req.method === 'GET') {
      const chunks = (this.stored.get(chunk[1]!) ?? []).sort((a, b) => a.index - b.index);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ fileId: chunk[1], chunks }));
      return;
    }
    // A lower-numbered helper hands this one its seed: accepted, as an honest relay would.
    if (/^\/v1\/repair\/[0-9a-f]{32}\/seed$/.test(url)) {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
      return;
    }
    if (/^\/v1\/repair\/[0-9a-f]{32}\/start$/.test(url)) {
      this.starts++;
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"rid":"');
      const piece = Buffer.alloc(64 * 1024, 'a');
      const t = setInterval(() => {
        if (res.destroyed || this.written >= HOSTILE_CAP_BYTES) {
          clearInterval(t);
          return;
        }
        res.write(piece);
        this.written += piece.length;
      }, 0);
      res.once('close', () => clearInterval(t));
      return;
    }
    res.writeHead(404).end();
  }
}

describeDatabases('repair with a hostile helper relay on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  const hostile = new HostileHelper();
  let alice: Ctx;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits, relays: 10 } };

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 2);
    await hostile.start();
    await registerTestRelay(database.db, { id: hostile.id, name: hostile.name, url: hostile.url });
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const user = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'password 123', role: 'user' }, 10);
    alice = { db: database.db, user, license, key, config };
  }, 60_000);

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await hostile.stop();
    await database.drop();
  });

  it('cuts an endless answer to a repair step at a small bound and names the relay', async () => {
    const [lost, helper] = relays as [TestRelay, TestRelay];
    const fileId = await protect(alice, 'repair-me.bin', randomBytes(2 * 1024 * 1024 + 5), 2, [lost.id, helper.id, hostile.id]);
    // The last check found `lost`'s share missing and the other two good: the hostile relay is a helper.
    const now = new Date();
    await database.db.insert(shareHealth).values([
      { fileId, relayId: lost.id, state: 'missing', checkedAt: now },
      { fileId, relayId: helper.id, state: 'ok', checkedAt: now },
      { fileId, relayId: hostile.id, state: 'ok', checkedAt: now }
    ]);
    const t0 = performance.now();
    const err = await repairShare(database.db, alice.key, fileId, lost.id).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message?: string }
    );
    const ms = performance.now() - t0;
    expect(hostile.starts).toBe(1);
    expect(err?.code).toBe('RELAY_ANSWER_TOO_LARGE');
    expect(err?.message).toContain(hostile.name);
    // A repair step's answer is a few hundred bytes; what was written beyond the bound is socket buffering.
    expect(hostile.written).toBeLessThan(32 * 1024 * 1024);
    expect(ms).toBeLessThan(30_000);
    const [health] = await database.db.select().from(shareHealth).where(eq(shareHealth.relayId, lost.id));
    expect(health?.state).toBe('missing');
  }, 120_000);
});
