/**
 * Files: reserve (checks, placement, x-coordinates, upload tokens), commit (verified with every relay),
 * list, manifest with read tokens, fresh tokens, remove (a durable job deletes the shares), and usage.
 * The coordinator never sees shares or plaintext; it only hands out capabilities and records placements.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { and, desc, eq, inArray, ne, sql } from 'drizzle-orm';
import { DEFAULT_CHUNK_SIZE, KofnError, MAX_SHARES, chunkCountFor, digestRoot, maxShareChunkLength, shareChunkBounds, type TokenOp } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, grants, placements, relays, users } from './db/schema.js';
import type { User } from './auth.js';
import type { License } from './license.js';
import type { CoordinatorConfig } from './config.js';
import { mintCapability, type SigningKey } from './signing-keys.js';
import { listChunks } from './relay-client.js';
import { enqueue } from './jobs.js';
import { record } from './history.js';
import * as v from './validate.js';
import { renewalStates } from './renewal.js';
import { attachHealth } from './health.js';

export interface Ctx {
  db: Db;
  user: User;
  license: License;
  key: SigningKey;
  config: CoordinatorConfig;
}

const TOKEN_TTL_S = 15 * 60;

export interface PlacementView {
  relayId: string;
  name: string;
  url: string;
  location: string;
  x: number;
  online: boolean;
}

export type FileRow = typeof files.$inferSelect;

function isOnline(lastHeartbeat: Date, config: CoordinatorConfig, now: Date): boolean {
  return now.getTime() - lastHeartbeat.getTime() <= config.relayOfflineAfterMs;
}

/** n distinct x in 1..255, uniformly chosen (partial Fisher–Yates with the platform CSPRNG). */
function pickXs(n: number): number[] {
  const pool = Array.from({ length: 255 }, (_, i) => i + 1);
  for (let i = 0; i < n; i++) {
    const j = i + randomInt(255 - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, n);
}

async function placementsOf(db: Db, fileId: string): Promise<Array<typeof placements.$inferSelect & { relay: typeof relays.$inferSelect }>> {
  const rows = await db.select({ p: placements, relay: relays }).from(placements).innerJoin(relays, eq(relays.id, placements.relayId)).where(eq(placements.fileId, fileId));
  return rows.map((r) => ({ ...r.p, relay: r.relay })).sort((a, b) => a.x - b.x);
}

function tokensFor(ctx: Ctx, file: FileRow, op: TokenOp, relayIds: string[]): Promise<string[]> {
  // Put tokens admit chunks 0..chunkCount, each at most as long as this file's largest share chunk can be
  // (issue #13 item 8b: the bound was a whole chunk whatever the declared size, so a 1 KiB reservation
  // stored a MiB per chunk per relay). One bound serves every index, so before commit a relay may hold
  // at most one chunk's worth more than declared; commitFile then checks every size exactly.
  const max = maxShareChunkLength(file.size, file.chunkSize);
  return Promise.all(
    relayIds.map((relayId) =>
      mintCapability(ctx.key, {
        relayId,
        userId: ctx.user.id,
        fid: file.id,
        op,
        chunks: [0, file.chunkCount],
        ...(op === 'put' ? { max } : {}),
        // Reads name the manifest's epoch, so a relay serves exactly that one (#15: never a mix of epochs).
        ...(op === 'get' && file.epoch > 0 ? { ep: file.epoch } : {}),
        ttl: TOKEN_TTL_S
      })
    )
  );
}

/**
 * Protected bytes: plaintext of committed files only, whose sizes commitFile verified against what every
 * relay stored (issue #13 item 8b). Shown as usage.
 */
export async function protectedBytes(db: Db): Promise<number> {
  const [r] = await db.select({ n: sql<string>`coalesce(sum(${files.size}), 0)` }).from(files).where(eq(files.status, 'available'));
  return Number(r?.n ?? 0);
}

/**
 * Bytes the quota holds: protected bytes plus uploads still reserved, at their declared size, which their
 * put tokens bound (parallel uploads must not pass the licence between them). A reservation that is not
 * committed in time is removed by the cleanup job and frees its share.
 */
export async function heldBytes(db: Db): Promise<number> {
  const [r] = await db.select({ n: sql<string>`coalesce(sum(${files.size}), 0)` }).from(files).where(inArray(files.status, ['available', 'reserved']));
  return Number(r?.n ?? 0);
}

export async function usage(db: Db, license: License) {
  const used = await protectedBytes(db);
  return { protectedBytes: used, limitBytes: license.limits.protectedBytes, percent: Math.min(100, (100 * used) / license.limits.protectedBytes) };
}

export interface ReserveInput {
  name: unknown;
  size: unknown;
  type: unknown;
  k: unknown;
  relays?: unknown;
}

export async function reserveFile(ctx: Ctx, input: Record<string, unknown> & Partial<ReserveInput>, now = new Date()) {
  const name = v.fileName(input.name);
  if (typeof input.size !== 'number' || !Number.isSafeInteger(input.size) || input.size < 0) {
    throw new KofnError('FILE_TOO_BIG', 'File too big, empty or wrong field.');
  }
  const size = input.size;
  if (size > ctx.license.limits.maxFileSize) {
    throw new KofnError('FILE_TOO_BIG', `File too big, empty or wrong field. The licence allows files up to ${ctx.license.limits.maxFileSize} bytes.`);
  }
  const type = input.type === undefined || input.type === '' ? 'application/octet-stream' : v.text(input.type, 'type', 255);
  if (typeof input.k !== 'number' || !Number.isInteger(input.k)) throw v.wrongValue('k', 'integers 2..255');
  const k = input.k;
  if (k < 2) throw new KofnError('THRESHOLD_TOO_LOW', 'The threshold must be at least 2.');

  const all = await ctx.db.select().from(relays);
  let chosen: typeof all;
  if (input.relays === undefined) {
    // Only enrolled relays (key pinned) take new shares; a relay from before relay identity waits for its key.
    chosen = all.filter((r) => r.publicKey !== null && isOnline(r.lastHeartbeat, ctx.config, now));
  } else {
    if (!Array.isArray(input.relays) || input.relays.length === 0 || input.relays.some((r) => typeof r !== 'string')) {
      throw v.wrongValue('relays', 'ids of registered storage servers');
    }
    const ids = [...new Set(input.relays as string[])];
    chosen = ids.map((id) => all.find((r) => r.id === id) ?? (() => { throw v.wrongValue('relays', 'ids of registered storage servers'); })());
    const down = chosen.filter((r) => r.publicKey === null || !isOnline(r.lastHeartbeat, ctx.config, now));
    if (down.length > 0) {
      // Issue #17 defect 8: name the servers, and say how many are needed and how many are reachable.
      throw new KofnError(
        'RELAYS_OFFLINE',
        `Some storage servers necessary for the operation are not connected: ${down.map((r) => r.name).join(', ')}. All ${chosen.length} chosen servers are needed and ${chosen.length - down.length} are reachable.`
      );
    }
  }
  const n = chosen.length;
  if (n > MAX_SHARES) throw v.wrongValue('relays', 'at most 255 storage servers');
  if (k > n) throw new KofnError('THRESHOLD_TOO_HIGH', 'The threshold is greater than the number of servers.');

  const id = randomBytes(16).toString('hex');
  const chunkSize = DEFAULT_CHUNK_SIZE;
  const chunkCount = chunkCountFor(size, chunkSize);
  const xs = pickXs(n);
  const file = await ctx.db.transaction(async (tx) => {
    // One reservation at a time checks and takes quota, so parallel reservations never exceed it.
    await tx.execute(sql`select pg_advisory_xact_lock(7102)`);
    const used = await heldBytes(tx);
    if (used + size > ctx.license.limits.protectedBytes) {
      console.warn(`kofn: licence storage limit reached (${used} of ${ctx.license.limits.protectedBytes} bytes); reservation refused.`);
      throw new KofnError('STORAGE_FULL', 'Storage limit reached: the licence allows no more protected bytes.');
    }
    const [clash] = await tx.select({ id: files.id }).from(files).where(and(eq(files.ownerId, ctx.user.id), eq(files.name, name), ne(files.status, 'deleted')));
    if (clash) throw new KofnError('FILENAME_IN_USE', 'Filename is already in use.');
    const [row] = await tx.insert(files).values({ id, ownerId: ctx.user.id, name, size, type, k, n, chunkSize, chunkCount, status: 'reserved', createdAt: now }).returning();
    await tx.insert(placements).values(chosen.map((r, i) => ({ fileId: id, relayId: r.id, x: xs[i]! })));
    return row!;
  });
  const tokens = await tokensFor(ctx, file, 'put', chosen.map((r) => r.id));
  return {
    fileId: id,
    k,
    n,
    chunkSize,
    chunkCount,
    epoch: file.epoch,
    placements: chosen.map((r, i) => ({ relayId: r.id, name: r.name, url: r.url, x: xs[i]!, token: tokens[i]! }))
  };
}

/** The file if this user may see it (owner, or grantee when allowed); otherwise the same 404 as a missing file. */
export async function visibleFile(ctx: Ctx, rawId: unknown, opts: { grantee: boolean; statuses: Array<FileRow['status']> }): Promise<FileRow> {
  const fileId = v.fileId(rawId);
  const [row] = await ctx.db.select().from(files).where(and(eq(files.id, fileId), inArray(files.status, opts.statuses)));
  if (row && row.ownerId === ctx.user.id) return row;
  if (row && opts.grantee) {
    const [g] = await ctx.db.select().from(grants).where(and(eq(grants.fileId, fileId), eq(grants.userId, ctx.user.id)));
    if (g) return row;
  }
  throw new KofnError('NOT_FOUND', 'File not found on the servers.');
}

function sizeFits(file: FileRow, index: number, size: number): boolean {
  const { min, max } = shareChunkBounds(file.size, file.chunkSize, index);
  return Number.isSafeInteger(size) && size >= min && size <= max;
}

export async function commitFile(ctx: Ctx, rawId: unknown, input: { roots?: unknown }, now = new Date()) {
  const file = await visibleFile(ctx, rawId, { grantee: false, statuses: ['reserved'] });
  const roots = v.object(input.roots ?? {});
  const where = await placementsOf(ctx.db, file.id);
  const expected = Array.from({ length: file.chunkCount + 1 }, (_, i) => i);
  const checked = await Promise.all(
    where.map(async (p) => {
      const listed = await listChunks(ctx.key, { id: p.relayId, url: p.relay.url, name: p.relay.name }, file.id, file.chunkCount, ctx.config.relayTimeouts);
      const indexes = listed.map((c) => c.index);
      if (indexes.length !== expected.length || indexes.some((ix, i) => ix !== expected[i])) {
        throw new KofnError('COMMIT_MISMATCH', `Storage server ${p.relay.name} does not hold every chunk of this file.`);
      }
      // Exactly the sizes the declared size makes (issue #13 item 8b): the quota counts committed files
      // at their declared size, so what relays store must be that size, not whatever the client sent.
      if (listed.some((c) => !sizeFits(file, c.index, c.size))) {
        throw new KofnError('COMMIT_MISMATCH', `Storage server ${p.relay.name} holds chunks of other sizes than this file's.`);
      }
      const root = await digestRoot(listed.map((c) => c.digest));
      if (roots[p.relayId] !== root) throw new KofnError('COMMIT_MISMATCH', `Storage server ${p.relay.name} holds different chunks than were uploaded.`);
      return { relayId: p.relayId, root };
    })
  );
  await ctx.db.transaction(async (tx) => {
    for (const c of checked) await tx.update(placements).set({ digestRoot: c.root }).where(and(eq(placements.fileId, file.id), eq(placements.relayId, c.relayId)));
    await tx.update(files).set({ status: 'available', committedAt: now }).where(eq(files.id, file.id));
  });
  await record(ctx.db, { userId: ctx.user.id, operation: 'protect', fileId: file.id, fileName: file.name, result: 'ok', detail: `${file.k} of ${file.n}` });
  return { fileId: file.id, status: 'available' as const };
}

function fileView(f: FileRow, where: PlacementView[], config: CoordinatorConfig, now: Date, owner?: { email: string; displayName: string }) {
  const since = (f.lastRenewalAt ?? f.committedAt ?? f.createdAt).getTime();
  return {
    id: f.id,
    name: f.name,
    size: f.size,
    type: f.type,
    k: f.k,
    n: f.n,
    status: f.status,
    createdAt: f.createdAt.toISOString(),
    modifiedAt: (f.committedAt ?? f.createdAt).toISOString(),
    lastRenewal: f.lastRenewalAt?.toISOString() ?? null,
    // Proactive renewal (#15): the epoch shares are at and when the next renewal is due.
    epoch: f.epoch,
    nextRenewal: new Date(since + config.renewalMs).toISOString(),
    renewalDue: now.getTime() - since > config.renewalMs,
    expired: now.getTime() - since > config.expirationMs,
    relays: where.map((p) => ({ relayId: p.relayId, name: p.name, location: p.location, online: p.online })),
    ...(owner ? { owner } : {})
  };
}

/** Only the columns a listing shows: 30,000 placement rows for 10,000 files stay cheap to map. */
const placementColumns = {
  fileId: placements.fileId,
  x: placements.x,
  relayId: relays.id,
  name: relays.name,
  url: relays.url,
  location: relays.location,
  lastHeartbeat: relays.lastHeartbeat
};
interface PlacementRow { fileId: string; x: number; relayId: string; name: string; url: string; location: string; lastHeartbeat: Date }

function views(ctx: Ctx, rows: FileRow[], ps: PlacementRow[], now: Date, owners?: Map<string, { email: string; displayName: string }>) {
  const byFile = new Map<string, PlacementView[]>();
  for (const p of ps) {
    const list = byFile.get(p.fileId) ?? [];
    list.push({ relayId: p.relayId, name: p.name, url: p.url, location: p.location, x: p.x, online: isOnline(p.lastHeartbeat, ctx.config, now) });
    byFile.set(p.fileId, list);
  }
  return rows.map((f) => fileView(f, (byFile.get(f.id) ?? []).sort((a, b) => a.name.localeCompare(b.name)), ctx.config, now, owners?.get(f.ownerId)));
}

const LISTED: Array<FileRow['status']> = ['available', 'reserved', 'deleting'];

export async function listFiles(ctx: Ctx, now = new Date()) {
  const mine = and(eq(files.ownerId, ctx.user.id), inArray(files.status, LISTED));
  const rows = await ctx.db.select().from(files).where(mine).orderBy(desc(files.createdAt));
  // One join for all placements (a 10,000-id IN list was 3x slower on PGlite).
  const ps = await ctx.db
    .select(placementColumns)
    .from(placements)
    .innerJoin(files, eq(files.id, placements.fileId))
    .innerJoin(relays, eq(relays.id, placements.relayId))
    .where(mine);
  const states = await renewalStates(ctx.db, rows);
  return attachHealth(ctx.db, views(ctx, rows, ps, now).map((f) => ({ ...f, renewal: states.get(f.id) ?? null })), mine);
}

export async function sharedWithMe(ctx: Ctx, now = new Date()) {
  const granted = and(eq(grants.userId, ctx.user.id), eq(files.status, 'available'));
  const rows = await ctx.db
    .select({ f: files, owner: users })
    .from(grants)
    .innerJoin(files, eq(files.id, grants.fileId))
    .innerJoin(users, eq(users.id, files.ownerId))
    .where(granted)
    .orderBy(desc(files.createdAt));
  const ps = await ctx.db
    .select(placementColumns)
    .from(placements)
    .innerJoin(grants, eq(grants.fileId, placements.fileId))
    .innerJoin(files, eq(files.id, placements.fileId))
    .innerJoin(relays, eq(relays.id, placements.relayId))
    .where(granted);
  const owners = new Map(rows.map((r) => [r.owner.id, { email: r.owner.email, displayName: r.owner.displayName }]));
  const shown = views(ctx, rows.map((r) => r.f), ps, now, owners);
  return attachHealth(ctx.db, shown, shown.length ? inArray(files.id, shown.map((f) => f.id)) : undefined);
}

export async function manifest(ctx: Ctx, rawId: unknown, now = new Date()) {
  const file = await visibleFile(ctx, rawId, { grantee: true, statuses: ['available'] });
  return readManifest(ctx.db, ctx.key, ctx.config, file, ctx.user.id, TOKEN_TTL_S, now);
}

/**
 * An available file's manifest with `get` tokens for `subject` (a user id, or a share link's own
 * pseudonym: share-links.ts) that live `ttl` seconds. The caller has checked the right to read it.
 */
export async function readManifest(db: Db, key: SigningKey, config: CoordinatorConfig, file: FileRow, subject: string, ttl = TOKEN_TTL_S, now = new Date()) {
  const where = await placementsOf(db, file.id);
  const tokens = await readTokens(key, file, subject, where.map((p) => p.relayId), ttl);
  return {
    fileId: file.id,
    name: file.name,
    size: file.size,
    type: file.type,
    k: file.k,
    n: file.n,
    chunkSize: file.chunkSize,
    chunkCount: file.chunkCount,
    epoch: file.epoch,
    placements: where.map((p, i) => ({
      relayId: p.relayId,
      name: p.relay.name,
      url: p.relay.url,
      location: p.relay.location,
      x: p.x,
      online: isOnline(p.relay.lastHeartbeat, config, now),
      token: tokens[i]!
    }))
  };
}

/** Fresh `get` tokens for `subject` on every relay of an available file (see readManifest). */
export async function readTokensFor(db: Db, key: SigningKey, file: FileRow, subject: string, ttl = TOKEN_TTL_S) {
  const where = await placementsOf(db, file.id);
  const tokens = await readTokens(key, file, subject, where.map((p) => p.relayId), ttl);
  return { tokens: where.map((p, i) => ({ relayId: p.relayId, token: tokens[i]! })) };
}

function readTokens(key: SigningKey, file: FileRow, subject: string, relayIds: string[], ttl: number): Promise<string[]> {
  // A renewed file's shares are read at its current epoch: relays serve the epoch a token names (#15).
  return Promise.all(
    relayIds.map((relayId) => mintCapability(key, { relayId, userId: subject, fid: file.id, op: 'get', chunks: [0, file.chunkCount], ttl, ...(file.epoch > 0 ? { ep: file.epoch } : {}) }))
  );
}

/**
 * Fresh tokens: `get` for a download (owner or grantee of an available file); `put`, `list` and `delete`
 * for the owner of an upload still reserved (long uploads, and resuming one: partial chunks are listed
 * and deleted before they are sent again).
 */
export async function freshTokens(ctx: Ctx, rawId: unknown, op: unknown) {
  if (op !== 'put' && op !== 'get' && op !== 'list' && op !== 'delete') throw v.wrongValue('op', 'put, get, list, delete');
  const file = await visibleFile(ctx, rawId, { grantee: op === 'get', statuses: op === 'get' ? ['available'] : ['reserved'] });
  const where = await placementsOf(ctx.db, file.id);
  const tokens = await tokensFor(ctx, file, op, where.map((p) => p.relayId));
  return { tokens: where.map((p, i) => ({ relayId: p.relayId, token: tokens[i]! })) };
}

/**
 * Replaces a relay of a reserved (uncommitted) file by another online relay the file does not use (nor
 * listed in `exclude`: relays that already failed this upload), keeping its x, and answers the new
 * placement with a fresh put token. Protect calls it when a relay stalls or fails (issue #13 item 3); it
 * then splits the file again from the start, so every share of a chunk still comes from one split. What
 * the replaced relay may hold of the file is deleted by a durable job.
 */
export async function replaceRelay(ctx: Ctx, rawId: unknown, input: { relayId?: unknown; exclude?: unknown }, now = new Date()) {
  const file = await visibleFile(ctx, rawId, { grantee: false, statuses: ['reserved'] });
  const where = await placementsOf(ctx.db, file.id);
  const old = where.find((p) => p.relayId === input.relayId);
  if (!old) throw v.wrongValue('relayId', 'a storage server of this file');
  const exclude = new Set(Array.isArray(input.exclude) ? input.exclude.filter((r): r is string => typeof r === 'string').slice(0, 255) : []);
  const used = new Set(where.map((p) => p.relayId));
  const spares = (await ctx.db.select().from(relays)).filter((r) => !used.has(r.id) && !exclude.has(r.id) && isOnline(r.lastHeartbeat, ctx.config, now));
  // The one with the most free space: the upload is about to put a whole file's share there.
  const spare = spares.sort((a, b) => b.freeBytes - a.freeBytes)[0];
  if (!spare) throw new KofnError('RELAYS_OFFLINE', `Some storage servers necessary for the operation are not connected. No other storage server can replace ${old.relay.name}.`);
  await ctx.db.transaction(async (tx) => {
    const moved = await tx
      .update(placements)
      .set({ relayId: spare.id })
      .where(and(eq(placements.fileId, file.id), eq(placements.relayId, old.relayId)))
      .returning({ x: placements.x });
    // Two replacements of the same relay at once: the second finds it gone.
    if (moved.length !== 1) throw new KofnError('CONFLICT', 'This storage server was already replaced.');
    await enqueue(tx, 'delete-file-on-relay', `${file.id}:${old.relayId}`, { fileId: file.id, relayId: old.relayId }, now);
  });
  const [token] = await tokensFor(ctx, file, 'put', [spare.id]);
  return { replaced: old.relayId, placement: { relayId: spare.id, name: spare.name, url: spare.url, x: old.x, token: token! } };
}

export async function removeFile(ctx: Ctx, rawId: unknown, now = new Date()) {
  const file = await visibleFile(ctx, rawId, { grantee: false, statuses: ['available', 'reserved'] });
  await ctx.db.update(files).set({ status: 'deleting' }).where(eq(files.id, file.id));
  await ctx.db.delete(grants).where(eq(grants.fileId, file.id));
  await enqueue(ctx.db, 'delete-file', file.id, { fileId: file.id }, now);
  await record(ctx.db, { userId: ctx.user.id, operation: 'remove', fileId: file.id, fileName: file.name, result: 'ok' });
  return { fileId: file.id, status: 'deleting' as const };
}

/** The browser reports how a retrieval went (and which relays sent bad data) for the history. */
export async function reportRetrieval(ctx: Ctx, rawId: unknown, input: Record<string, unknown>) {
  const file = await visibleFile(ctx, rawId, { grantee: true, statuses: ['available'] });
  const result = input.result === 'ok' ? 'ok' : input.result === 'error' ? 'error' : (() => { throw v.wrongValue('result', 'ok, error'); })();
  const badRelays = Array.isArray(input.badRelays) ? input.badRelays.filter((r): r is string => typeof r === 'string').slice(0, 255) : [];
  const where = await placementsOf(ctx.db, file.id);
  const names = badRelays.map((id) => where.find((p) => p.relayId === id)?.relay.name).filter(Boolean);
  // Relays that did not deliver (offline, timed out, sent too much) and were replaced or made it fail.
  const failedRelays = Array.isArray(input.failedRelays) ? input.failedRelays.filter((r): r is string => typeof r === 'string').slice(0, 255) : [];
  const failedNames = failedRelays.map((id) => where.find((p) => p.relayId === id)?.relay.name).filter(Boolean);
  const message = typeof input.message === 'string' ? input.message.slice(0, 300).replace(/[\p{Cc}]/gu, ' ') : '';
  const detail = [names.length ? `bad data from: ${names.join(', ')}` : '', failedNames.length ? `no answer from: ${failedNames.join(', ')}` : '', message].filter(Boolean).join('; ');
  await record(ctx.db, { userId: ctx.user.id, operation: 'retrieve', fileId: file.id, fileName: file.name, result, detail });
  return { recorded: true };
}
