/**
 * Federation (issue #21 part 2; shared/docs/federation.md) with TWO coordinators in one process, each on its
 * own database: X (the deployment storing a remote group, with three real relay processes) served over
 * loopback HTTP by the same federation-http.ts the SvelteKit routes use, and H (the home deployment) on a
 * PGlite of its own. A "browser" holds a non-extractable Ed25519 key (WebCrypto) and signs its requests
 * to X. Proven: the whole sub-file cycle (reserve, put to X's relays with X's tokens, commit, get, remove)
 * through signed requests; H registering X over bounded HTTP; and the attacks: forged, malformed, expired
 * and revoked link tokens, a wrong origin, replayed and altered signatures, a request outside the time
 * window, a user link reaching another's files, hostile remotes (oversized, slow, not JSON, redirecting,
 * lying), and H's whole database, link token included, getting no token for X's relays.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import {
  FEDERATION_HEADER,
  RelayClient,
  createProtectStream,
  digestRoot,
  fileIdFromHex,
  newFederationKeyPair,
  randomBytes,
  randomHex,
  signFederated,
  type FreshTokens,
  type Reservation
} from '@kofn/shared';
import { describeDatabases, testDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { federatedFiles, federationLinks, federationRemotes, files } from './db/schema.js';
import { createUser, type User } from './auth.js';
import { ensureSigningKey } from './signing-keys.js';
import { errorCode as code, useFileServices } from './testing/file-services.js';
import { retrieveWith } from './testing/protect.js';
import { reserveFile } from './reservations.js';
import {
  INFO_TIMEOUT_MS,
  bindUserLink,
  federationOrigins,
  issueLink,
  listLinks,
  listRemotes,
  listUserLinks,
  refreshRemote,
  registerRemote,
  remoteCommit,
  remoteRemove,
  remoteReserve,
  remoteStatus,
  remoteTokens,
  revokeLink,
  revokeUserLink,
  unlinkRemote,
  webOrigin
} from './federation.js';
import type { RemoteStatus } from '@kofn/shared';
import { federatedPreflight, federatedResponse, infoResponse } from './federation-http.js';
import { open as openSealed } from './secret-box.js';
import { rotateSecretKey } from './secret-key-rotation.js';
import type { Ctx } from './file-access.js';

const H_ORIGIN = 'http://127.0.0.1:5999';

/** A Node request as a fetch Request (what SvelteKit's adapter hands the routes). */
async function toRequest(req: IncomingMessage, base: string): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
  const body = chunks.length > 0 && req.method !== 'GET' && req.method !== 'HEAD' ? Buffer.concat(chunks) : null;
  return new Request(new URL(req.url ?? '/', base), { method: req.method ?? 'GET', headers, body });
}

async function send(res: ServerResponse, r: Response): Promise<void> {
  res.writeHead(r.status, Object.fromEntries(r.headers));
  res.end(Buffer.from(await r.arrayBuffer()));
}

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

/** Rows of a raw query, whichever driver answered (PGlite: `{ rows }`; postgres.js: the array itself). */
const rowsOf = (r: unknown): Array<Record<string, unknown>> => (Array.isArray(r) ? (r as Array<Record<string, unknown>>) : (r as { rows: Array<Record<string, unknown>> }).rows);

const close = (s: Server) => new Promise<void>((ok) => s.close(() => ok()));

describeDatabases('federation between two coordinators, X on $name', { once: true }, ({ open }) => {
  const fx = useFileServices(open, 3);
  let xUrl: string;
  let xServer: Server;
  let h: Database & { drop: () => Promise<void> };
  let xAdmin: User;
  let hSecretKey = randomBytes(32);

  beforeAll(async () => {
    // X serves its federation routes over loopback with the routes' own code (federation-http.ts).
    const ctxFor = (user: User): Ctx => ({ ...fx.alice, user });
    ({ server: xServer, url: xUrl } = await listen((req, res) => {
      void (async () => {
        const request = await toRequest(req, 'http://127.0.0.1');
        const path = new URL(request.url).pathname;
        const deps = { db: fx.database.db, ctxFor };
        const m = /^\/api\/federation\/remote\/files(?:\/([^/]+)(?:\/(tokens|commit))?)?$/.exec(path);
        let r: Response;
        if (path === '/api/federation/remote/info') r = await infoResponse(fx.database.db, fx.alice.config, request, 'Deployment X');
        else if (!m) r = new Response('not found', { status: 404 });
        else if (request.method === 'OPTIONS') r = await federatedPreflight(fx.database.db, request);
        else if (!m[1] && request.method === 'POST') r = await federatedResponse(deps, request, (ctx, f, b) => remoteReserve(ctx, f.userLinkId, b), 201);
        else if (m[2] === 'tokens' && request.method === 'POST') r = await federatedResponse(deps, request, (ctx, f, b) => remoteTokens(ctx, f.userLinkId, m[1], b.op));
        else if (m[2] === 'commit' && request.method === 'POST') r = await federatedResponse(deps, request, (ctx, f, b) => remoteCommit(ctx, f.userLinkId, m[1], b));
        else if (m[1] && !m[2] && request.method === 'GET') r = await federatedResponse(deps, request, (ctx, f) => remoteStatus(ctx, f.userLinkId, m[1]));
        else if (m[1] && !m[2] && request.method === 'DELETE') r = await federatedResponse(deps, request, (ctx, f) => remoteRemove(ctx, f.userLinkId, m[1]));
        else r = new Response('no such method', { status: 405 });
        await send(res, r);
      })();
    }));
    xAdmin = await createUser(fx.database.db, { email: 'admin@x.test', displayName: 'X admin', password: 'password 123', role: 'admin' }, 10);
    // H: a coordinator of its own (PGlite, its own signing key and users).
    h = await testDatabases()[0]!.open();
    await ensureSigningKey(h.db);
    await createUser(h.db, { email: 'admin@h.test', displayName: 'H admin', password: 'password 123', role: 'admin' }, 10);
  }, 60_000);
  afterAll(async () => {
    await close(xServer);
    await h?.drop();
  });

  /** A browser of H's page: its own key pair, linked at X for `user` (as X's approval page does). */
  async function linkedBrowser(user: User, linkHandle: string) {
    const { keys, publicKey } = await newFederationKeyPair();
    const { userLinkId } = await bindUserLink(fx.database.db, user, { link: linkHandle, origin: H_ORIGIN, publicKey });
    const call = async (method: string, path: string, body?: unknown, opts: { origin?: string | null; header?: string; time?: number } = {}) => {
      const bytes = body === undefined ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(body));
      const header = opts.header ?? (await signFederated(keys.privateKey, userLinkId, method, path, bytes, opts.time));
      const headers: Record<string, string> = { [FEDERATION_HEADER]: header, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
      if (opts.origin !== null) headers.origin = opts.origin ?? H_ORIGIN;
      const res = await fetch(xUrl + path, { method, headers, ...(body === undefined ? {} : { body: bytes }) });
      return { res, header, json: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
    };
    return { keys, publicKey, userLinkId, call };
  }

  /** Splits `data` for the reservation's relays and PUTs every share chunk with X's put tokens. */
  async function uploadTo(r: Reservation, data: Uint8Array): Promise<Record<string, string>> {
    const p = await createProtectStream({
      k: r.k,
      xs: r.placements.map((pl) => pl.x),
      fileId: fileIdFromHex(r.fileId),
      file: { name: r.name ?? 'sub', size: data.length, type: 'application/octet-stream', chunkSize: r.chunkSize }
    });
    const writing = (async () => {
      const w = p.writable.getWriter();
      await w.write(data);
      await w.close();
    })();
    const digests = new Map(r.placements.map((pl) => [pl.relayId, [] as string[]]));
    for await (const c of p.readable) {
      await Promise.all(
        r.placements.map(async (pl, j) => {
          const client = new RelayClient({ id: pl.relayId, name: pl.name, url: pl.url }, { token: () => pl.token });
          digests.get(pl.relayId)!.push((await client.put(r.fileId, c.index, new Uint8Array(c.shares[j]!))).digest);
        })
      );
    }
    await writing;
    const roots: Record<string, string> = {};
    for (const [id, d] of digests) roots[id] = await digestRoot(d);
    return roots;
  }

  let linkToken: string;
  let linkHandle: string;

  it('X issues a link token for H; H registers X over bounded HTTP and keeps the token sealed; X keeps only its SHA-256', async () => {
    const made = await issueLink(fx.database.db, xAdmin, { name: 'Deployment H', origin: `${H_ORIGIN}/` });
    expect(made.token).toMatch(/^kofn_fed_[A-Za-z0-9_-]{43}$/);
    expect(made.origin).toBe(H_ORIGIN);
    linkToken = made.token;
    linkHandle = made.handle;
    const xRows = await fx.database.db.select().from(federationLinks);
    expect(JSON.stringify(xRows)).not.toContain(made.token.slice(9));

    const remote = await registerRemote(h.db, hSecretKey, { url: xUrl, token: linkToken });
    expect(remote).toMatchObject({ url: xUrl, name: 'Deployment X', status: 'ok', linkHandle });
    expect(remote.deploymentId).toMatch(/^[0-9a-f]{32}$/);
    expect(remote.relays.map((r) => r.id).sort()).toEqual(fx.relays.map((r) => r.id).sort());
    expect(remote.relays.every((r) => r.online)).toBe(true);
    const [row] = await h.db.select().from(federationRemotes);
    expect(row!.linkToken).not.toContain(linkToken.slice(9));
    expect(openSealed(hSecretKey, row!.linkToken, `federation-remote:${row!.id}`)).toBe(linkToken);
    // H's pages may connect to X and X's relays (connect-src), and to nothing else for it.
    expect(await federationOrigins(h.db)).toEqual([...new Set([xUrl, ...fx.relays.map((r) => new URL(r.url).origin)])].sort());
    expect(await code(registerRemote(h.db, hSecretKey, { url: xUrl, token: linkToken }))).toBe('CONFLICT');
    expect((await listLinks(fx.database.db)).find((l) => l.handle === linkHandle)?.lastUsedAt).not.toBeNull();
  });

  it('rotating H’s secret key seals the link token again; H still reaches X with it', async () => {
    const newKey = randomBytes(32);
    const [before] = await listRemotes(h.db);
    expect(await rotateSecretKey(h.db, hSecretKey, newKey)).toEqual({ resealed: 1, alreadyNew: 0 });
    expect((await refreshRemote(h.db, newKey, before!.id)).status).toBe('ok');
    expect(await rotateSecretKey(h.db, hSecretKey, newKey)).toEqual({ resealed: 0, alreadyNew: 1 });
    hSecretKey = newKey;
  });

  it('a browser linked at X reserves, uploads with X tokens, commits, reads back and removes a sub-file, all by signed requests', async () => {
    const b = await linkedBrowser(fx.alice.user, linkHandle);
    const data = randomBytes(300_000);
    const reserved = await b.call('POST', '/api/federation/remote/files', { size: data.length, k: 2 });
    expect(reserved.res.status).toBe(201);
    expect(reserved.res.headers.get('access-control-allow-origin')).toBe(H_ORIGIN);
    const r = reserved.json as unknown as Reservation;
    expect(r.placements).toHaveLength(3);
    expect(r.name).toMatch(/^remote-share-[0-9a-f]{16}$/);
    const roots = await uploadTo(r, data);
    const committed = await b.call('POST', `/api/federation/remote/files/${r.fileId}/commit`, { roots });
    expect(committed.json).toEqual({ fileId: r.fileId, status: 'available' });
    const status = (await b.call('GET', `/api/federation/remote/files/${r.fileId}`)).json as unknown as RemoteStatus;
    expect(status).toMatchObject({ fileId: r.fileId, status: 'available', size: data.length, k: 2, n: 3 });
    const got = (await b.call('POST', `/api/federation/remote/files/${r.fileId}/tokens`, { op: 'get' })).json as unknown as FreshTokens;
    const tokenOf = new Map(got.tokens.map((t) => [t.relayId, t.token]));
    const back = await retrieveWith({
      ...status,
      name: r.name!,
      type: 'application/octet-stream',
      mode: 'shamir',
      placements: status.placements.map((p) => ({ ...p, location: 'test', token: tokenOf.get(p.relayId)! }))
    });
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    // X counts the sub-file as its user's bytes: its own licence and quota.
    const [row] = await fx.database.db.select().from(files).where(eq(files.id, r.fileId));
    expect(row).toMatchObject({ ownerId: fx.alice.user.id, size: data.length, status: 'available' });
    const removed = await b.call('DELETE', `/api/federation/remote/files/${r.fileId}`);
    expect(removed.json).toEqual({ fileId: r.fileId, status: 'deleting' });
    expect((await b.call('GET', `/api/federation/remote/files/${r.fileId}`)).json.status).toBe('deleting');
  });

  it('a failed protect removes its reservation at X; the browser cannot get read tokens before commit', async () => {
    const b = await linkedBrowser(fx.alice.user, linkHandle);
    const r = (await b.call('POST', '/api/federation/remote/files', { size: 10, k: 2, relays: fx.relays.slice(0, 2).map((x) => x.id) })).json as unknown as Reservation;
    expect(r.placements.map((p) => p.relayId)).toEqual(fx.relays.slice(0, 2).map((x) => x.id));
    expect((await b.call('POST', `/api/federation/remote/files/${r.fileId}/tokens`, { op: 'get' })).json.error?.code).toBe('NOT_FOUND');
    expect(((await b.call('POST', `/api/federation/remote/files/${r.fileId}/tokens`, { op: 'delete' })).json as unknown as FreshTokens).tokens).toHaveLength(2);
    expect((await b.call('DELETE', `/api/federation/remote/files/${r.fileId}`)).json.status).toBe('deleting');
    // Bad input is a 4xx with a code and stores nothing.
    const before = (await fx.database.db.select().from(federatedFiles)).length;
    for (const [body, want] of [
      [{ size: 10, k: 1 }, 'THRESHOLD_TOO_LOW'],
      [{ size: 10, k: 4 }, 'THRESHOLD_TOO_HIGH'],
      [{ size: -1, k: 2 }, 'FILE_TOO_BIG'],
      [{ size: 10, k: 2, name: '../etc' }, 'WRONG_VALUE'],
      [{ size: 10, k: 2, relays: ['nope'] }, 'WRONG_VALUE']
    ] as const) {
      const out = await b.call('POST', '/api/federation/remote/files', body);
      expect([out.res.status, out.json.error?.code]).toEqual([400 + (want === 'FILE_TOO_BIG' ? 13 : 0), want]);
    }
    expect((await fx.database.db.select().from(federatedFiles)).length).toBe(before);
    // X's licence counts X's bytes: a sub-file past X's storage limit is refused by X.
    const saved = fx.license.limits.protectedBytes;
    fx.license.limits.protectedBytes = 1;
    try {
      const full = await b.call('POST', '/api/federation/remote/files', { size: 10, k: 2 });
      expect([full.res.status, full.json.error?.code]).toEqual([507, 'STORAGE_FULL']);
    } finally {
      fx.license.limits.protectedBytes = saved;
    }
    expect((await fx.database.db.select().from(federatedFiles)).length).toBe(before);
  });

  it('a user link reaches only the sub-files made through it: not the user’s own files, not another user’s', async () => {
    const alice = await linkedBrowser(fx.alice.user, linkHandle);
    const bob = await linkedBrowser(fx.bob.user, linkHandle);
    const own = await reserveFile(fx.alice, { name: 'alice-own.bin', size: 10, type: 'application/octet-stream', k: 2 });
    expect((await alice.call('POST', `/api/federation/remote/files/${own.fileId}/tokens`, { op: 'put' })).json.error?.code).toBe('NOT_FOUND');
    const sub = (await alice.call('POST', '/api/federation/remote/files', { size: 10, k: 2 })).json as unknown as Reservation;
    const other = await linkedBrowser(fx.alice.user, linkHandle);
    for (const who of [bob, other]) {
      expect((await who.call('POST', `/api/federation/remote/files/${sub.fileId}/tokens`, { op: 'put' })).json.error?.code).toBe('NOT_FOUND');
      expect((await who.call('DELETE', `/api/federation/remote/files/${sub.fileId}`)).json.error?.code).toBe('NOT_FOUND');
    }
    expect((await alice.call('GET', '/api/federation/remote/files/not-a-file-id')).json.error?.code).toBe('NOT_FOUND');
  });

  it('signed requests: wrong or missing origin, replay, another path or body, a stranger’s key, time outside the window, a malformed header', async () => {
    const b = await linkedBrowser(fx.alice.user, linkHandle);
    const wrong = await b.call('POST', '/api/federation/remote/files', { size: 1, k: 2 }, { origin: 'https://evil.example' });
    expect([wrong.res.status, wrong.json.error?.code, wrong.res.headers.get('access-control-allow-origin')]).toEqual([403, 'FEDERATION_ORIGIN', null]);
    expect((await b.call('POST', '/api/federation/remote/files', { size: 1, k: 2 }, { origin: null })).json.error?.code).toBe('FEDERATION_ORIGIN');

    const first = await b.call('POST', '/api/federation/remote/files', { size: 1, k: 2 });
    expect(first.res.status).toBe(201);
    const replay = await b.call('POST', '/api/federation/remote/files', { size: 1, k: 2 }, { header: first.header });
    expect([replay.res.status, replay.json.error?.code]).toEqual([409, 'FEDERATION_REPLAYED']);
    // The same header on another body or path: the signature does not cover it.
    const bytes = new TextEncoder().encode(JSON.stringify({ size: 1, k: 2 }));
    const signed = await signFederated(b.keys.privateKey, b.userLinkId, 'POST', '/api/federation/remote/files', bytes);
    expect((await b.call('POST', '/api/federation/remote/files', { size: 2, k: 2 }, { header: signed })).json.error?.code).toBe('FEDERATION_INVALID');
    expect((await b.call('DELETE', '/api/federation/remote/files/00000000000000000000000000000000', undefined, { header: signed })).json.error?.code).toBe('FEDERATION_INVALID');
    // A key of the attacker's own under the victim's user link id.
    const stranger = await newFederationKeyPair();
    const forged = await signFederated(stranger.keys.privateKey, b.userLinkId, 'POST', '/api/federation/remote/files', bytes);
    const f = await b.call('POST', '/api/federation/remote/files', { size: 1, k: 2 }, { header: forged });
    expect([f.res.status, f.json.error?.code]).toEqual([401, 'FEDERATION_INVALID']);
    // Signed three minutes ago (or ahead): refused even though never seen.
    expect((await b.call('POST', '/api/federation/remote/files', { size: 1, k: 2 }, { time: Date.now() - 180_000 })).json.error?.code).toBe('FEDERATION_EXPIRED');
    expect((await b.call('POST', '/api/federation/remote/files', { size: 1, k: 2 }, { time: Date.now() + 180_000 })).json.error?.code).toBe('FEDERATION_EXPIRED');
    for (const header of ['', 'x.y.z.w', `${b.userLinkId}.1.abc.def`, 'a'.repeat(300)]) {
      expect((await b.call('POST', '/api/federation/remote/files', { size: 1, k: 2 }, { header })).json.error?.code).toBe('FEDERATION_INVALID');
    }
    // Oversized and malformed bodies: refused with a code, before or after the signature.
    const big = await fetch(`${xUrl}/api/federation/remote/files`, { method: 'POST', headers: { origin: H_ORIGIN, [FEDERATION_HEADER]: signed }, body: 'x'.repeat(40_000) });
    expect([big.status, ((await big.json()) as { error: { code: string } }).error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    const notJson = new TextEncoder().encode('{"size":');
    const h2 = await signFederated(b.keys.privateKey, b.userLinkId, 'POST', '/api/federation/remote/files', notJson);
    const nj = await fetch(`${xUrl}/api/federation/remote/files`, { method: 'POST', headers: { origin: H_ORIGIN, [FEDERATION_HEADER]: h2 }, body: notJson });
    expect([nj.status, ((await nj.json()) as { error: { code: string } }).error.code]).toEqual([400, 'BAD_REQUEST']);
    // Preflight: allowed for the linked origin only.
    const pre = await fetch(`${xUrl}/api/federation/remote/files`, { method: 'OPTIONS', headers: { origin: H_ORIGIN, 'access-control-request-method': 'POST' } });
    expect([pre.status, pre.headers.get('access-control-allow-origin'), pre.headers.get('access-control-allow-headers')]).toEqual([204, H_ORIGIN, `content-type, ${FEDERATION_HEADER}`]);
    const evil = await fetch(`${xUrl}/api/federation/remote/files`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('binding a browser key at X: the link’s own origin only, a real key, a live link; each user unlinks only their own', async () => {
    const { publicKey } = await newFederationKeyPair();
    expect(await code(bindUserLink(fx.database.db, fx.alice.user, { link: linkHandle, origin: 'https://evil.example', publicKey }))).toBe('FEDERATION_ORIGIN');
    expect(await code(bindUserLink(fx.database.db, fx.alice.user, { link: linkHandle, origin: H_ORIGIN, publicKey: 'short' }))).toBe('WRONG_VALUE');
    expect(await code(bindUserLink(fx.database.db, fx.alice.user, { link: 'f'.repeat(32), origin: H_ORIGIN, publicKey }))).toBe('NOT_FOUND');
    const once = await bindUserLink(fx.database.db, fx.alice.user, { link: linkHandle, origin: H_ORIGIN, publicKey });
    // A reload of the approval page answers the same link; the same key for another account is refused.
    expect(await bindUserLink(fx.database.db, fx.alice.user, { link: linkHandle, origin: H_ORIGIN, publicKey })).toEqual(once);
    expect(await code(bindUserLink(fx.database.db, fx.bob.user, { link: linkHandle, origin: H_ORIGIN, publicKey }))).toBe('CONFLICT');
    expect(await code(revokeUserLink(fx.database.db, fx.bob.user, once.userLinkId))).toBe('NOT_FOUND');
    expect((await listUserLinks(fx.database.db, fx.alice.user.id)).find((l) => l.id === once.userLinkId)).toMatchObject({
      origin: H_ORIGIN,
      linkName: 'Deployment H',
      keyPrefix: publicKey.slice(0, 16),
      revokedAt: null
    });
  });

  it('the user unlinking a browser at X stops it at once (FEDERATION_REVOKED)', async () => {
    const b = await linkedBrowser(fx.alice.user, linkHandle);
    expect((await b.call('POST', '/api/federation/remote/files', { size: 1, k: 2 })).res.status).toBe(201);
    await revokeUserLink(fx.database.db, fx.alice.user, b.userLinkId);
    const out = await b.call('POST', '/api/federation/remote/files', { size: 1, k: 2 });
    expect([out.res.status, out.json.error?.code]).toEqual([403, 'FEDERATION_REVOKED']);
  });

  it('H with its whole database and the link token opened gets no token for X’s relays: only X’s public info', async () => {
    const b = await linkedBrowser(fx.alice.user, linkHandle);
    const sub = (await b.call('POST', '/api/federation/remote/files', { size: 10, k: 2 })).json as unknown as Reservation;
    // Everything H stores, every table, plus the link token opened with H's own secret key.
    const tables = rowsOf(await h.db.execute(sql`select tablename from pg_tables where schemaname = 'public'`)).map((r) => String(r.tablename));
    expect(tables).toContain('federation_remotes');
    const dump: string[] = [];
    for (const t of tables) dump.push(JSON.stringify(rowsOf(await h.db.execute(sql.raw(`select * from "${t}"`)))));
    const [row] = await h.db.select().from(federationRemotes);
    const opened = openSealed(hSecretKey, row!.linkToken, `federation-remote:${row!.id}`);
    // No relay capability (a JWT) and no user-link key material of X is in H's state.
    expect(dump.join('')).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
    expect(dump.join('')).not.toContain(b.publicKey);
    // The link token, tried on every route that hands out X's relay tokens, as bearer and in the signature header.
    const paths: Array<[string, string, unknown]> = [
      ['POST', '/api/federation/remote/files', { size: 10, k: 2 }],
      ['POST', `/api/federation/remote/files/${sub.fileId}/tokens`, { op: 'put' }],
      ['POST', `/api/federation/remote/files/${sub.fileId}/tokens`, { op: 'get' }],
      ['GET', `/api/federation/remote/files/${sub.fileId}`, undefined]
    ];
    for (const [method, path, body] of paths) {
      const attempts: Array<Record<string, string>> = [
        { authorization: `Bearer ${opened}` },
        { [FEDERATION_HEADER]: opened },
        { [FEDERATION_HEADER]: `${b.userLinkId}.${Date.now()}.${opened.slice(9, 31)}.${'A'.repeat(86)}` }
      ];
      for (const headers of attempts) {
        const res = await fetch(xUrl + path, { method, headers: { ...headers, origin: H_ORIGIN, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
        const j = (await res.json()) as { error?: { code: string }; tokens?: unknown; placements?: unknown };
        expect([res.status, j.error?.code, j.tokens, j.placements]).toEqual([401, 'FEDERATION_INVALID', undefined, undefined]);
      }
    }
    // What the link token does open: X's public info, which holds no token.
    const info = await fetch(`${xUrl}/api/federation/remote/info`, { headers: { authorization: `Bearer ${opened}` } });
    expect(info.status).toBe(200);
    expect(await info.text()).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
  });

  it('link tokens: forged, malformed, expired and revoked ones are refused with their codes; H shows X as revoked', async () => {
    const info = (authorization?: string) => fetch(`${xUrl}/api/federation/remote/info`, authorization === undefined ? {} : { headers: { authorization } });
    for (const a of [undefined, 'Bearer kofn_fed_' + 'A'.repeat(43), 'Bearer nonsense', 'Basic abc', `Bearer ${'x'.repeat(400)}`]) {
      const res = await info(a);
      expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([401, 'FEDERATION_INVALID']);
    }
    const short = await issueLink(fx.database.db, xAdmin, { name: 'short-lived', origin: 'https://h2.example', expiresInDays: 1 });
    const later = new Date(Date.now() + 2 * 86_400_000);
    const expired = await infoResponse(fx.database.db, fx.alice.config, new Request(`${xUrl}/x`, { headers: { authorization: `Bearer ${short.token}` } }), 'X', later);
    expect([expired.status, ((await expired.json()) as { error: { code: string } }).error.code]).toEqual([403, 'FEDERATION_EXPIRED']);
    expect(await code(issueLink(fx.database.db, xAdmin, { name: 'plain http', origin: 'http://h.example' }))).toBe('WRONG_VALUE');
    expect(await code(issueLink(fx.database.db, xAdmin, { name: 'with path', origin: 'https://h.example/app' }))).toBe('WRONG_VALUE');
    expect(await code(issueLink(fx.database.db, xAdmin, { name: 'days', origin: 'https://h.example', expiresInDays: 0 }))).toBe('WRONG_VALUE');

    // Revoking H's link at X: the link token and every browser linked under it stop.
    const b = await linkedBrowser(fx.alice.user, linkHandle);
    await revokeLink(fx.database.db, linkHandle);
    const res = await info(`Bearer ${linkToken}`);
    expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([403, 'FEDERATION_REVOKED']);
    const signed = await b.call('POST', '/api/federation/remote/files', { size: 1, k: 2 });
    expect([signed.res.status, signed.json.error?.code, signed.res.headers.get('access-control-allow-origin')]).toEqual([403, 'FEDERATION_REVOKED', H_ORIGIN]);
    expect(await code(revokeLink(fx.database.db, linkHandle))).toBe('NOT_FOUND');
    const [remote] = await listRemotes(h.db);
    const after = await refreshRemote(h.db, hSecretKey, remote!.id);
    expect([after.status, after.lastError]).toEqual(['revoked', 'The other deployment refused the link (FEDERATION_REVOKED).']);
    await unlinkRemote(h.db, remote!.id);
    expect(await listRemotes(h.db)).toEqual([]);
  });

  it('hostile remotes: oversized, slow, not JSON, redirecting, malformed or lying answers are bounded and refused', async () => {
    let mode = 'big';
    const validInfo = { deploymentId: 'a'.repeat(32), name: 'Hostile', fingerprint: 'B'.repeat(43), linkHandle: 'c'.repeat(32), relays: [] as unknown[] };
    const { server, url } = await listen((req, res) => {
      if (mode === 'big') {
        res.writeHead(200, { 'content-type': 'application/json' });
        // Endless: the reader must stop at its bound, not at the sender's end.
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const pump = () => {
          while (res.write(chunk));
        };
        res.on('drain', pump);
        res.on('close', () => res.off('drain', pump));
        res.on('error', () => undefined);
        pump();
      } else if (mode === 'slow') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"deploymentId":');
      } else if (mode === 'html') {
        res.end('<html>hello</html>');
      } else if (mode === 'redirect') {
        res.writeHead(302, { location: `${xUrl}/api/federation/remote/info` });
        res.end();
      } else if (mode === 'control') {
        res.end(JSON.stringify({ ...validInfo, name: 'bad\u0007name' }));
      } else if (mode === 'relays') {
        res.end(JSON.stringify({ ...validInfo, relays: Array.from({ length: 256 }, (_, i) => ({ id: `r${i}`, name: 'r', url: 'https://r.example', location: '', online: true })) }));
      } else if (mode === 'relayUrl') {
        res.end(JSON.stringify({ ...validInfo, relays: [{ id: 'r', name: 'r', url: 'javascript:alert(1)', location: '', online: true }] }));
      } else {
        res.end(JSON.stringify(validInfo));
      }
    });
    const token = 'kofn_fed_' + 'A'.repeat(43);
    try {
      const t0 = performance.now();
      expect(await code(registerRemote(h.db, hSecretKey, { url, token }))).toBe('FEDERATION_REMOTE_BAD_ANSWER');
      mode = 'slow';
      expect(await code(registerRemote(h.db, hSecretKey, { url, token }, { timeoutMs: 500 }))).toBe('FEDERATION_REMOTE_UNREACHABLE');
      // Both bounded: well within the default timeout for the big answer, ~0.5 s for the stalled one.
      expect(performance.now() - t0).toBeLessThan(INFO_TIMEOUT_MS);
      for (const m of ['html', 'control', 'relays', 'relayUrl']) {
        mode = m;
        expect(await code(registerRemote(h.db, hSecretKey, { url, token })), m).toBe('FEDERATION_REMOTE_BAD_ANSWER');
      }
      mode = 'redirect';
      expect(await code(registerRemote(h.db, hSecretKey, { url, token }))).toBe('FEDERATION_REMOTE_UNREACHABLE');
      // Nothing half-stored by any of these.
      expect(await listRemotes(h.db)).toEqual([]);
      // A valid answer is taken; the same address later answering as another deployment is not.
      mode = 'ok';
      const taken = await registerRemote(h.db, hSecretKey, { url, token });
      expect(taken.status).toBe('ok');
      validInfo.deploymentId = 'd'.repeat(32);
      const changed = await refreshRemote(h.db, hSecretKey, taken.id);
      expect([changed.status, changed.deploymentId, changed.lastError]).toEqual(['unreachable', 'a'.repeat(32), 'The server at this address answered as another deployment.']);
      await close(server);
      const gone = await refreshRemote(h.db, hSecretKey, taken.id, { timeoutMs: 1000 });
      expect(gone.status).toBe('unreachable');
      await unlinkRemote(h.db, taken.id);
    } finally {
      server.closeAllConnections();
      await close(server).catch(() => undefined);
    }
    expect(await code(registerRemote(h.db, hSecretKey, { url: 'ftp://x.example', token }))).toBe('WRONG_VALUE');
    expect(await code(registerRemote(h.db, hSecretKey, { url: xUrl, token: 'kofn_pat_abc' }))).toBe('WRONG_VALUE');
    expect(await code(refreshRemote(h.db, hSecretKey, randomHex(16)))).toBe('NOT_FOUND');
  }, 30_000);

  it('webOrigin accepts https origins and loopback http only', () => {
    expect(webOrigin('https://Files.Example.com:8443', 'o')).toBe('https://files.example.com:8443');
    expect(webOrigin('http://localhost:5173/', 'o')).toBe('http://localhost:5173');
    for (const bad of ['http://10.0.0.1', 'https://u:p@x.example', 'https://x.example/?a', 'https://x.example#f', 'data:text/plain,x', 42]) {
      expect(() => webOrigin(bad, 'o')).toThrow(expect.objectContaining({ code: 'WRONG_VALUE' }) as Error);
    }
  });
});
