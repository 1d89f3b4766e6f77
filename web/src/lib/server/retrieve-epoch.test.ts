/**
 * Downloads that outlive their epoch (#15, shared/src/protocol/epoch-follow.ts), through the engine of
 * `kofn retrieve` (shared/src/cli/retrieve.ts) against this coordinator's own manifest and token services
 * (served over loopback HTTP below, as the routes do) and three real relay processes: a file renewed, and
 * its old epoch really dropped on the relays, while a retrieval is half-way is read on from the chunk that
 * failed at the new epoch, byte-identical, without blaming a relay. Both ways a download learns the epoch
 * went: relays answering NOT_FOUND to a token that is still valid (the drop job ran), and the coordinator
 * refusing tokens for it (EPOCH_GONE) once its grace is over. The Chromium engine shares the decision
 * (web/src/lib/engine/retrieve.ts); e2e/tests/renewal-cli.spec.ts runs the CLI itself across a switch and a
 * drop, paced through a slow relay.
 *
 * PGlite only: what is tested is the retrieval engine and the coordinator's epoch rules, which run the same
 * queries on both databases (capabilities.test.ts and read-epoch.test.ts cover those on PostgreSQL too).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { KofnError, RelayClient, type Manifest } from '@kofn/shared';
import { retrieve, type Sink } from '@kofn/shared/cli/retrieve';
import { Coordinator } from '@kofn/shared/cli/coordinator';
import { testDatabases } from './db/testing.js';
import { files } from './db/schema.js';
import { loadConfig, type CoordinatorConfig } from './config.js';
import { commitFile, manifest, reportRetrieval } from './files.js';
import { freshTokens } from './capabilities.js';
import { MAX_API_BODY, errorResponse } from './http.js';
import { DROP_JOB, RENEWAL_GRACE_MS, renewOnce, renewalHandlers, type RenewalDeps } from './renewal.js';
import { useFileServices, errorCode } from './testing/file-services.js';
import { protect, roots, uploadTree } from './testing/protect.js';
import type { Ctx } from './file-access.js';

const MiB = 1024 * 1024;
const ROUTE = /^\/api\/files\/([0-9a-f]{32})\/(manifest|tokens|retrievals)$/;

/** A promise and the function that settles it. */
function deferred() {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * A sink that keeps copies of what it is given (the engine zeroes a chunk's buffer once written) and holds
 * the retrieval at its first chunk until `hold` settles: what the test does meanwhile happens mid-download.
 */
function heldSink(hold: Promise<void>) {
  const parts: Buffer[] = [];
  const first = deferred();
  const sink: Sink = {
    write: async (chunk) => {
      parts.push(Buffer.from(chunk));
      if (parts.length === 1) {
        first.resolve();
        await hold;
      }
    },
    close: async () => undefined,
    abort: async () => undefined
  };
  return { sink, parts, first: first.promise };
}

/** A request's JSON body, bounded as the routes bound theirs (http.ts MAX_API_BODY). */
async function bodyOf(req: IncomingMessage): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const piece of req as AsyncIterable<Buffer>) {
    size += piece.length;
    if (size > MAX_API_BODY) throw new KofnError('PAYLOAD_TOO_LARGE', 'Too large.');
    parts.push(piece);
  }
  return size === 0 ? {} : (JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>);
}

const [pglite] = testDatabases();

describe('a download that outlives its epoch (kofn retrieve engine, real relays, PGlite)', () => {
  // Four relays: the flat files go on all four at k = 2, the tree file on two groups of two (K = 2).
  const fx = useFileServices(pglite!.open, 4);
  let server: Server;
  let url = '';
  /** The coordinator settings the loopback routes use (a test may shorten token lifetimes). */
  let config: CoordinatorConfig;
  const ctx = (): Ctx => ({ ...fx.alice, config });
  const deps = (): RenewalDeps => ({ db: fx.database.db, key: fx.alice.key, timeouts: { headersMs: 60_000, putHeadersMs: 60_000, idleMs: 60_000, totalMs: 120_000 } });

  async function answer(req: IncomingMessage): Promise<Response> {
    const m = ROUTE.exec(req.url ?? '');
    if (!m) return Response.json({ error: { code: 'NOT_FOUND', message: 'No such route.' } }, { status: 404 });
    try {
      const body = await bodyOf(req);
      if (m[2] === 'manifest' && req.method === 'GET') return Response.json(await manifest(ctx(), m[1]));
      if (m[2] === 'tokens' && req.method === 'POST') return Response.json(await freshTokens(ctx(), m[1], body.op, body.epoch));
      if (m[2] === 'retrievals' && req.method === 'POST') return Response.json(await reportRetrieval(ctx(), m[1], body));
      return Response.json({ error: { code: 'NOT_FOUND', message: 'No such route.' } }, { status: 404 });
    } catch (err) {
      return errorResponse(err);
    }
  }

  beforeAll(async () => {
    config = fx.alice.config;
    server = createServer((req, res) => {
      void answer(req).then(async (r) => {
        res.writeHead(r.status, { 'content-type': 'application/json' });
        res.end(Buffer.from(await r.arrayBuffer()));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  /** Two groups of two relays, both needed (K = 2, k_g = 2). */
  const twoGroups = () => ({
    kind: 'tree',
    k: 2,
    groups: [
      { kind: 'local', k: 2, relays: fx.relays.slice(0, 2).map((r) => r.id) },
      { kind: 'local', k: 2, relays: fx.relays.slice(2, 4).map((r) => r.id) }
    ]
  });

  /** Protects a 10 MiB + 5 file as `name` (flat, or as a tree) and starts the engine on it, held at its first chunk (heldSink). */
  async function startHeld(name: string, tree = false) {
    const data = randomBytes(10 * MiB + 5);
    let id: string;
    if (tree) {
      const u = await uploadTree(fx.alice, name, data, twoGroups());
      await commitFile(fx.alice, u.fileId, { roots: await roots(u) });
      id = u.fileId;
    } else id = await protect(fx.alice, name, data, 2);
    const hold = deferred();
    const { sink, parts, first } = heldSink(hold.promise);
    let started: Manifest | undefined;
    const running = retrieve(new Coordinator(url), { fileId: id, sinkFor: async () => sink, onManifest: (m) => (started = m) });
    running.catch(() => undefined);
    await first;
    if (!started) throw new Error('the engine wrote a chunk before reading its manifest');
    return { data, id, hold, parts, running, started };
  }

  it('the old epoch dropped on the relays mid-download: chunks refused NOT_FOUND are read on at the new epoch, byte-identical', async () => {
    config = fx.alice.config;
    const { data, id, hold, parts, running, started } = await startHeld('dropped-midway.bin');
    expect(started.epoch).toBe(0);

    // Renewed and switched to epoch 1, then epoch 0 dropped on every relay, while the retrieval holds
    // tokens for epoch 0 that are still valid for minutes: a relay now answers them NOT_FOUND.
    expect(await renewOnce(deps(), id, 0)).toBe('renewed');
    await renewalHandlers(deps())[DROP_JOB]!({ fileId: id, epoch: 0, dxs: [] }, undefined as never);
    const p = started.placements[0]!;
    const old = new RelayClient({ id: p.relayId, name: p.name, url: p.url }, { token: () => p.token });
    expect(await errorCode(old.get(id, started.chunkCount, 2 * MiB))).toBe('NOT_FOUND');

    hold.resolve();
    const r = await running;
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    // Read on at epoch 1 from the chunk that failed; no relay blamed for the dropped epoch's NOT_FOUND.
    expect(r).toMatchObject({ size: data.length, epoch: 1, fromEpoch: 0, badRelays: [], unreachable: [] });
  }, 120_000);

  it('a tree file (renewed in place, renewal.md "Tree files") whose old epoch is dropped mid-download is read on at the same tree at the new epoch, byte-identical', async () => {
    config = fx.alice.config;
    const { data, id, hold, parts, running, started } = await startHeld('tree-dropped-midway.bin', true);
    expect(started.layout?.kind).toBe('tree');
    expect(await renewOnce(deps(), id, 0)).toBe('renewed');
    await renewalHandlers(deps())[DROP_JOB]!({ fileId: id, epoch: 0, dxs: [] }, undefined as never);
    hold.resolve();
    const r = await running;
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    expect(r).toMatchObject({ size: data.length, epoch: 1, fromEpoch: 0, badRelays: [], unreachable: [] });
  }, 120_000);

  it('the coordinator refusing tokens for the old epoch (EPOCH_GONE, grace over): the download renews its tokens at the new epoch, byte-identical', async () => {
    // Tokens of 10 s (the shortest), so the download renews them while the test holds it.
    config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600', KOFN_TOKEN_TTL_SECONDS: '10' });
    const { data, id, hold, parts, running, started } = await startHeld('gone-midway.bin');
    expect(await renewOnce(deps(), id, 0)).toBe('renewed');
    // The switch as if longer ago than the grace: the coordinator no longer mints epoch-0 tokens. Epoch 0
    // is still on the relays, so only the coordinator's EPOCH_GONE tells the download.
    await fx.database.db
      .update(files)
      .set({ lastRenewalAt: new Date(Date.now() - RENEWAL_GRACE_MS - 60_000) })
      .where(eq(files.id, id));
    expect(await errorCode(freshTokens(ctx(), id, 'get', 0))).toBe('EPOCH_GONE');
    // Held until the download's epoch-0 tokens are about to be renewed (a quarter of their life before expiry).
    const exp = (JSON.parse(Buffer.from(started.placements[0]!.token.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number }).exp * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, exp - 2_000 - Date.now())));
    hold.resolve();
    const r = await running;
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    expect(r).toMatchObject({ size: data.length, epoch: 1, fromEpoch: 0, badRelays: [], unreachable: [] });
  }, 120_000);
});
