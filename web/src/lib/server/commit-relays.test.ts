/**
 * Commit against a hostile relay (issue #13 item 6): two real relay processes and one loopback HTTP server
 * registered as a relay, which stores PUTs honestly but answers the commit's chunk listing with an endless
 * list, a huge declared length, garbage, or nothing at all. The commit must fail with a clear 502/504-class
 * error naming that relay, within the timeouts, having read no more than the listing's bound.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { createUser } from './auth.js';
import { ensureSigningKey } from './signing-keys.js';
import { loadConfig } from './config.js';
import { UNLICENSED, type License } from './license.js';
import { commitFile, reportRetrieval } from './files.js';
import type { Ctx } from './file-access.js';
import { listHistory } from './history.js';
import { errorResponse } from './http.js';
import { registerTestRelay, startRelays, type TestRelay } from './testing/relays.js';
import { roots, upload } from './testing/protect.js';
import { LoopbackServer } from './testing/loopback-server.js';

type Mode = 'honest' | 'endless' | 'declared-huge' | 'garbage' | 'stall' | 'trickle';

/** A relay that keeps what it is sent and lists it as a relay would, until told to misbehave. */
class HostileRelay extends LoopbackServer {
  mode: Mode = 'honest';
  /** Listing bytes written before the coordinator hung up. */
  written = 0;
  closed: Promise<void> = Promise.resolve();
  readonly id = randomUUID();
  readonly name = 'hostile-relay';
  private readonly stored = new Map<string, Array<{ index: number; size: number; digest: string }>>();

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const m = /^\/v1\/files\/([0-9a-f]{32})\/chunks(?:\/(\d+))?$/.exec(req.url ?? '');
    if (!m) return void res.writeHead(404).end();
    const [, fileId, index] = m;
    if (req.method === 'PUT') {
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (c: Buffer) => (hash.update(c), (size += c.length)));
      req.on('end', () => {
        const digest = hash.digest('hex');
        const list = this.stored.get(fileId!) ?? [];
        list.push({ index: Number(index), size, digest });
        this.stored.set(fileId!, list);
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ index: Number(index), size, digest, created: true }));
      });
      return;
    }
    this.written = 0;
    this.closed = new Promise((r) => res.once('close', () => r()));
    const chunks = (this.stored.get(fileId!) ?? []).sort((a, b) => a.index - b.index);
    if (this.mode === 'honest') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ fileId, chunks }));
    if (this.mode === 'stall') return;
    if (this.mode === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"chunks": [oops');
    if (this.mode === 'declared-huge') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(2 ** 31) });
      return void res.write('{"chunks":[');
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"chunks":[');
    const entry = Buffer.from(JSON.stringify(chunks[0]) + ',');
    const piece = Buffer.concat(Array.from({ length: 256 }, () => entry));
    const t = setInterval(
      () => {
        if (res.destroyed) {
          clearInterval(t);
          return;
        }
        res.write(this.mode === 'trickle' ? ' ' : piece);
        this.written += this.mode === 'trickle' ? 1 : piece.length;
      },
      this.mode === 'trickle' ? 100 : 0
    );
    res.once('close', () => clearInterval(t));
  }
}

describeDatabases('commit with a hostile relay on $name', { once: true }, ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  const hostile = new HostileRelay();
  let alice: Ctx;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits } };

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 2);
    await hostile.start();
    await registerTestRelay(database.db, { id: hostile.id, name: hostile.name, url: hostile.url });
    // Short bounds so a stalling relay costs a test seconds, not the 20 s defaults.
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600', KOFN_RELAY_TIMEOUT_HEADERS: '1', KOFN_RELAY_TIMEOUT_IDLE: '1', KOFN_RELAY_TIMEOUT_TOTAL: '3' });
    const user = await createUser(database.db, { email: 'alice@x.test', displayName: 'alice', password: 'password 123', role: 'user' }, 10);
    alice = { db: database.db, user, license, key, config };
  }, 60_000);

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await hostile.stop();
    await database.drop();
  });

  /** Uploads a 3-chunk file to both real relays and the hostile one; the commit is left to the test. */
  const uploaded = async (name: string) => upload(alice, name, randomBytes(2 * 1024 * 1024 + 5), 2, { relays: [relays[0]!.id, relays[1]!.id, hostile.id] });

  /** The error commit throws, and what the API would answer for it. */
  const commitError = async (u: Awaited<ReturnType<typeof uploaded>>) => {
    const err = await commitFile(alice, u.fileId, { roots: await roots(u) }).then(
      () => undefined,
      (e: unknown) => e
    );
    const res = errorResponse(err);
    return { err: err as { code?: string; message?: string; details?: Record<string, unknown> }, status: res.status, body: (await res.json()) as { error: { code: string; message: string } } };
  };

  it('commits when the relay answers honestly (the fixture itself works)', async () => {
    hostile.mode = 'honest';
    const u = await uploaded('honest.bin');
    await expect(commitFile(alice, u.fileId, { roots: await roots(u) })).resolves.toMatchObject({ status: 'available' });
  });

  it('cuts an endless chunk list at its bound and names the relay (502, not 500)', async () => {
    const u = await uploaded('endless.bin');
    hostile.mode = 'endless';
    const { err, status, body } = await commitError(u);
    expect(err.code).toBe('RELAY_ANSWER_TOO_LARGE');
    expect(err.details).toMatchObject({ relayId: hostile.id, relayName: 'hostile-relay' });
    expect(status).toBe(502);
    expect(body.error.message).toContain('hostile-relay');
    await hostile.closed;
    // 3 chunks + 1 allow 1024 + 4 x 160 bytes; what was written beyond is only what sockets buffer.
    expect(hostile.written).toBeLessThan(16 * 1024 * 1024);
  });

  it('refuses a declared 2 GiB listing before reading it', async () => {
    const u = await uploaded('declared.bin');
    hostile.mode = 'declared-huge';
    const { err, status } = await commitError(u);
    expect(err.code).toBe('RELAY_ANSWER_TOO_LARGE');
    expect(status).toBe(502);
  });

  it('names a relay that answers garbage (502)', async () => {
    const u = await uploaded('garbage.bin');
    hostile.mode = 'garbage';
    const { err, status, body } = await commitError(u);
    expect(err.code).toBe('RELAY_BAD_ANSWER');
    expect(status).toBe(502);
    expect(body.error.message).toContain('hostile-relay');
  });

  it('names a relay that never answers, within the timeout (504)', async () => {
    const u = await uploaded('stall.bin');
    hostile.mode = 'stall';
    const t = performance.now();
    const { err, status, body } = await commitError(u);
    expect(performance.now() - t).toBeLessThan(2_900);
    expect(err.code).toBe('RELAY_TIMEOUT');
    expect(status).toBe(504);
    expect(body.error.message).toContain('hostile-relay');
  });

  it('ends a relay that trickles its listing at the total bound (504)', async () => {
    const u = await uploaded('trickle.bin');
    hostile.mode = 'trickle';
    const t = performance.now();
    const { err, status } = await commitError(u);
    expect(performance.now() - t).toBeLessThan(4_500);
    expect(err.code).toBe('RELAY_TIMEOUT');
    expect(status).toBe(504);
  });

  it("records the relays a retrieval failed over from in the history (the page's report)", async () => {
    hostile.mode = 'honest';
    const u = await uploaded('reported.bin');
    await commitFile(alice, u.fileId, { roots: await roots(u) });
    await reportRetrieval(alice, u.fileId, { result: 'ok', badRelays: [], failedRelays: [hostile.id, 'not-a-placement'] });
    const [entry] = await listHistory(database.db, alice.user.id);
    expect(entry).toMatchObject({ operation: 'retrieve', fileName: 'reported.bin', result: 'ok', detail: 'no answer from: hostile-relay; check scheduled' });
  });
});
