/**
 * Files: commit (verified with every relay), list (own and shared with me), manifest with read tokens,
 * remove (a durable job deletes the shares) and the retrieval report. Reservations are reservations.ts,
 * tokens capabilities.ts, usage usage.ts, visibility and placements file-access.ts.
 * The coordinator never sees shares or plaintext; it only hands out capabilities and records placements.
 */
import { and, desc, eq, inArray, isNull, sql } from 'drizzle-orm';
import { KofnError, digestRoot, shareChunkBoundsFor, type BatchCommits, type CommitResult, type FileView, type Manifest, type RemoveResult, type ChunkListing } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, grants, placements, relays, shareHealth, shareVerifications, users } from './db/schema.js';
import { replaceOnCommit } from './trash.js';
import type { CoordinatorConfig } from './config.js';
import type { SigningKey } from './signing-keys.js';
import { listChunks, listChunksMany } from './relay-client.js';
import { enqueue } from './jobs.js';
import { record, recordMany } from './history.js';
import * as v from './validate.js';
import { renewalStates } from './renewal.js';
import { attachHealth, attachHealthOf, enqueueCheck } from './health.js';
import { attachOwnerChecks } from './repair-verification.js';
import { isOnline, placementsOf, visibleFile, type Ctx, type FileRow, type PlacementWithRelay } from './file-access.js';
import { batchItems, failed } from './batch.js';
import { readTokens } from './capabilities.js';

export interface PlacementView {
  relayId: string;
  name: string;
  url: string;
  location: string;
  x: number;
  online: boolean;
}

function sizeFits(file: FileRow, index: number, size: number): boolean {
  // Issue #23: a compact file's data chunks are header + ceil((data + 16) / k) on every relay.
  const { min, max } = shareChunkBoundsFor(file.mode, file.size, file.chunkSize, index, file.k);
  return Number.isSafeInteger(size) && size >= min && size <= max;
}

/**
 * Checks one relay's listing of a reserved file: it holds exactly the chunks uploaded (every index, the
 * sizes the declared size makes, the digest root the client computed). Answers the relay's root.
 */
async function checkListing(file: FileRow, p: PlacementWithRelay, listed: ChunkListing[], roots: Record<string, unknown>): Promise<{ relayId: string; root: string }> {
  const indexes = listed.map((c) => c.index);
  if (indexes.length !== file.chunkCount + 1 || indexes.some((ix, i) => ix !== i)) {
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
}

/** Checks with every relay of a reserved file that it holds exactly the chunks uploaded; answers each relay's root. */
async function verifyStored(ctx: Ctx, file: FileRow, where: PlacementWithRelay[], roots: Record<string, unknown>): Promise<Array<{ relayId: string; root: string }>> {
  return Promise.all(
    where.map(async (p) => checkListing(file, p, await listChunks(ctx.key, { id: p.relayId, url: p.relay.url, name: p.relay.name }, file.id, file.chunkCount, ctx.config.relayTimeouts), roots))
  );
}

/**
 * Every relay's listing of every file of a batch commit: each relay lists its files in few requests
 * (relay-client.ts listChunksMany), the relays at once. Keyed by file id and relay id.
 */
async function listingsOf(ctx: Ctx, todo: ReadonlyArray<{ file: FileRow; where: PlacementWithRelay[] }>): Promise<Map<string, ChunkListing[] | KofnError>> {
  const byRelay = new Map<string, { relay: PlacementWithRelay['relay']; files: FileRow[] }>();
  for (const { file, where } of todo)
    for (const p of where) {
      const g = byRelay.get(p.relayId) ?? { relay: p.relay, files: [] };
      g.files.push(file);
      byRelay.set(p.relayId, g);
    }
  const out = new Map<string, ChunkListing[] | KofnError>();
  await Promise.all(
    [...byRelay.values()].map(async ({ relay, files: list }) => {
      const got = await listChunksMany(
        ctx.key,
        { id: relay.id, url: relay.url, name: relay.name },
        list.map((f) => ({ fileId: f.id, chunkCount: f.chunkCount })),
        ctx.config.relayTimeouts
      );
      got.forEach((listing, j) => out.set(`${list[j]!.id} ${relay.id}`, listing));
    })
  );
  return out;
}

/**
 * Makes verified files available. Only a file still reserved is switched (a commit racing a replay or the
 * sweep finds it gone): answers the ids that were. Issue #14: a batch of 1,000 files took 5,000 statements
 * (one UPDATE per file, one per placement, one history INSERT per file); now a file that replaces another
 * still goes alone (it trashes the file holding its name first), and the others go in a few multi-row
 * statements, all in one transaction.
 */
async function markCommitted(ctx: Ctx, verified: Array<{ file: FileRow; checked: Array<{ relayId: string; root: string }> }>, now: Date): Promise<Set<string>> {
  const done = new Set<string>();
  const commit = { status: 'available' as const, committedAt: now, replacesId: null };
  await ctx.db.transaction(async (tx) => {
    for (const { file } of verified) {
      if (file.replacesId === null) continue;
      // Still reserved, and held so until the end: a file the sweep took meanwhile is not committed, and then
      // the file it was to replace must stay where it is (it was trashed first, and the listing lost both).
      const [still] = await tx
        .select({ id: files.id })
        .from(files)
        .where(and(eq(files.id, file.id), eq(files.status, 'reserved')))
        .for('update');
      if (!still) continue;
      // `onConflict: 'replace'` (issue #18): the file it replaces goes to the trash as this one takes its name.
      await replaceOnCommit(tx, file, now);
      const moved = await tx
        .update(files)
        .set(commit)
        .where(and(eq(files.id, file.id), eq(files.status, 'reserved')))
        .returning({ id: files.id });
      if (moved.length > 0) done.add(file.id);
    }
    const plain = verified.filter((x) => x.file.replacesId === null).map((x) => x.file.id);
    for (let i = 0; i < plain.length; i += COMMIT_SLICE) {
      const moved = await tx
        .update(files)
        .set(commit)
        .where(and(inArray(files.id, plain.slice(i, i + COMMIT_SLICE)), eq(files.status, 'reserved')))
        .returning({ id: files.id });
      for (const m of moved) done.add(m.id);
    }
    await storeRoots(
      tx,
      verified.filter((x) => done.has(x.file.id)).flatMap((x) => x.checked.map((c) => ({ fileId: x.file.id, ...c })))
    );
  });
  await recordMany(
    ctx.db,
    verified
      .filter(({ file }) => done.has(file.id))
      .map(({ file }) => ({
        userId: ctx.user.id,
        operation: 'protect' as const,
        fileId: file.id,
        fileName: file.name,
        result: 'ok' as const,
        detail: file.layout ? `${file.k} of ${file.layout.groups.length} groups, ${file.n} storage servers` : `${file.k} of ${file.n}`
      }))
  );
  return done;
}

/** Files (and placement rows) per statement at commit: 1,000 placement rows are 3,000 parameters. */
const COMMIT_SLICE = 1000;

/** Each placement's digest root, as verified at commit: one UPDATE ... FROM (VALUES ...) per slice. */
async function storeRoots(tx: Db, roots: Array<{ fileId: string; relayId: string; root: string }>): Promise<void> {
  for (let i = 0; i < roots.length; i += COMMIT_SLICE) {
    const rows = sql.join(
      roots.slice(i, i + COMMIT_SLICE).map((r) => sql`(${r.fileId}, ${r.relayId}, ${r.root})`),
      sql`, `
    );
    await tx.execute(
      sql`update ${placements} set digest_root = v.root from (values ${rows}) as v(file_id, relay_id, root) where ${placements.fileId} = v.file_id and ${placements.relayId} = v.relay_id`
    );
  }
}

export async function commitFile(ctx: Ctx, rawId: unknown, input: { roots?: unknown }, now = new Date()): Promise<CommitResult> {
  const file = await visibleFile(ctx, rawId, { grantee: false, statuses: ['reserved'] });
  const roots = v.object(input.roots ?? {});
  const checked = await verifyStored(ctx, file, await placementsOf(ctx.db, file.id), roots);
  // A replay that raced this commit: the file is no longer a reservation.
  if (!(await markCommitted(ctx, [{ file, checked }], now)).has(file.id)) throw new KofnError('NOT_FOUND', 'File not found on the servers.');
  return { fileId: file.id, status: 'available' } satisfies CommitResult;
}

/**
 * Commits many files in one request (`POST /api/files/commit`): `{ files: [{ fileId, roots }] }`. Each file
 * is checked and committed on its own, exactly as `POST /api/files/:id/commit` would (answers its result
 * or its error: NOT_FOUND for another user's, a missing or an already committed file, COMMIT_MISMATCH,
 * a relay's error). Not all-or-nothing, on purpose: a file's guarantees (every relay holds every chunk
 * as uploaded) are about that file alone, and refusing 999 good files for one bad one would make the
 * client upload them again. The quota was taken at reservation, so committing changes no total.
 */
export async function commitFiles(ctx: Ctx, input: Record<string, unknown>, now = new Date()): Promise<BatchCommits> {
  const items = batchItems(input);
  const results: BatchCommits['results'] = items.map(() => failed(new KofnError('NOT_FOUND', 'File not found on the servers.')));
  const seen = new Set<string>();
  const wanted: Array<{ i: number; id: string; roots: Record<string, unknown> }> = [];
  for (const [i, item] of items.entries()) {
    try {
      const id = v.fileId(item.fileId);
      if (seen.has(id)) throw v.wrongValue('fileId', 'each file once per batch');
      seen.add(id);
      wanted.push({ i, id, roots: v.object(item.roots ?? {}) });
    } catch (err) {
      results[i] = failed(err);
    }
  }
  // The owner's reservations only: anything else stays the NOT_FOUND set above, as for a stranger.
  const ids = wanted.map((w) => w.id);
  const rows =
    ids.length === 0
      ? []
      : await ctx.db
          .select()
          .from(files)
          .where(and(inArray(files.id, ids), eq(files.ownerId, ctx.user.id), eq(files.status, 'reserved')));
  const byId = new Map(rows.map((r) => [r.id, r]));
  const ps =
    rows.length === 0
      ? []
      : await ctx.db
          .select({ p: placements, relay: relays })
          .from(placements)
          .innerJoin(relays, eq(relays.id, placements.relayId))
          .where(
            inArray(
              placements.fileId,
              rows.map((r) => r.id)
            )
          );
  const where = new Map<string, PlacementWithRelay[]>();
  for (const r of ps) where.set(r.p.fileId, [...(where.get(r.p.fileId) ?? []), { ...r.p, relay: r.relay }]);
  const todo = wanted.filter((w) => byId.has(w.id)).map((w) => ({ ...w, file: byId.get(w.id)!, where: where.get(w.id) ?? [] }));
  const listings = await listingsOf(ctx, todo);
  const verified: Array<{ i: number; file: FileRow; checked: Array<{ relayId: string; root: string }> }> = [];
  for (const w of todo) {
    try {
      const checked: Array<{ relayId: string; root: string }> = [];
      for (const p of w.where) {
        const listed = listings.get(`${w.file.id} ${p.relayId}`);
        if (listed instanceof KofnError) throw listed;
        checked.push(await checkListing(w.file, p, listed ?? [], w.roots));
      }
      verified.push({ i: w.i, file: w.file, checked });
    } catch (err) {
      results[w.i] = failed(err);
    }
  }
  const done = verified.length ? await markCommitted(ctx, verified, now) : new Set<string>();
  for (const { i, file } of verified) if (done.has(file.id)) results[i] = { ok: true, commit: { fileId: file.id, status: 'available' } };
  return { results } satisfies BatchCommits;
}

function fileView(f: FileRow, where: PlacementView[], config: CoordinatorConfig, now: Date, owner?: { email: string; displayName: string }) {
  const since = (f.lastRenewalAt ?? f.committedAt ?? f.createdAt).getTime();
  return {
    id: f.id,
    name: f.name,
    folderId: f.folderId,
    size: f.size,
    type: f.type,
    k: f.k,
    n: f.n,
    mode: f.mode,
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
    // Issue #21: a tree file's layout, for its details (each group and its relays).
    ...(f.layout ? { layout: f.layout } : {}),
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
interface PlacementRow {
  fileId: string;
  x: number;
  relayId: string;
  name: string;
  url: string;
  location: string;
  lastHeartbeat: Date;
}

function views(ctx: Ctx, rows: FileRow[], ps: PlacementRow[], now: Date, owners?: Map<string, { email: string; displayName: string }>) {
  const byFile = new Map<string, PlacementView[]>();
  for (const p of ps) {
    const list = byFile.get(p.fileId) ?? [];
    list.push({ relayId: p.relayId, name: p.name, url: p.url, location: p.location, x: p.x, online: isOnline(p.lastHeartbeat, ctx.config, now) });
    byFile.set(p.fileId, list);
  }
  return rows.map((f) =>
    fileView(
      f,
      (byFile.get(f.id) ?? []).sort((a, b) => a.name.localeCompare(b.name)),
      ctx.config,
      now,
      owners?.get(f.ownerId)
    )
  );
}

const LISTED: Array<FileRow['status']> = ['available', 'reserved', 'deleting'];

/**
 * Listing views of some of the owner's files (one page of a folder: folders.ts listFolder), with their
 * placements, renewal state and health, in the order given.
 */
export async function fileViews(ctx: Ctx, rows: FileRow[], now = new Date()): Promise<FileView[]> {
  if (rows.length === 0) return [];
  // Issue #18: the page's ids as one array parameter, read straight from placements and share_health by
  // their primary keys (file_id first). Joined through `files` with an IN list of 500 ids, the planner
  // could hash-join a sequential scan of every placement and health row of the database (300,000 each at
  // 100,000 files) for one page.
  const ids = sql.param(rows.map((r) => r.id));
  const ps = await ctx.db
    .select(placementColumns)
    .from(placements)
    .innerJoin(relays, eq(relays.id, placements.relayId))
    .where(sql`${placements.fileId} = any(${ids})`);
  const states = await renewalStates(ctx.db, rows);
  const listed = await attachHealthOf(
    ctx.db,
    views(ctx, rows, ps, now).map((f) => ({ ...f, renewal: states.get(f.id) ?? null })),
    sql`${shareHealth.fileId} = any(${ids})`
  );
  // The owner's browser authenticates repaired shares (repair-verification.ts); the page shows where that stands.
  return (await attachOwnerChecks(ctx.db, listed, sql`${shareVerifications.fileId} = any(${ids})`)) satisfies FileView[];
}

/** Every file of the owner outside the trash, newest first (the whole list: folders.ts pages instead). */
export async function listFiles(ctx: Ctx, now = new Date()) {
  const mine = and(eq(files.ownerId, ctx.user.id), inArray(files.status, LISTED), isNull(files.trashedAt), isNull(files.replacesId));
  const rows = await ctx.db.select().from(files).where(mine).orderBy(desc(files.createdAt));
  // One join for all placements (a 10,000-id IN list was 3x slower on PGlite).
  const ps = await ctx.db.select(placementColumns).from(placements).innerJoin(files, eq(files.id, placements.fileId)).innerJoin(relays, eq(relays.id, placements.relayId)).where(mine);
  const states = await renewalStates(ctx.db, rows);
  const listed = await attachHealth(
    ctx.db,
    views(ctx, rows, ps, now).map((f) => ({ ...f, renewal: states.get(f.id) ?? null })),
    mine
  );
  return (await attachOwnerChecks(ctx.db, listed, mine)) satisfies FileView[];
}

export async function sharedWithMe(ctx: Ctx, now = new Date()) {
  const granted = and(eq(grants.userId, ctx.user.id), eq(files.status, 'available'), isNull(files.trashedAt));
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
  const shown = views(
    ctx,
    rows.map((r) => r.f),
    ps,
    now,
    owners
  );
  return (await attachHealth(
    ctx.db,
    shown,
    shown.length
      ? inArray(
          files.id,
          shown.map((f) => f.id)
        )
      : undefined
  )) satisfies FileView[];
}

export async function manifest(ctx: Ctx, rawId: unknown, now = new Date()) {
  const file = await visibleFile(ctx, rawId, { grantee: true, statuses: ['available'] });
  return readManifest(ctx.db, ctx.key, ctx.config, file, ctx.user.id, ctx.config.tokenTtlS, now);
}

/**
 * An available file's manifest with `get` tokens for `subject` (a user id, or a share link's own
 * pseudonym: share-links.ts) that live `ttl` seconds. The caller has checked the right to read it.
 */
export async function readManifest(db: Db, key: SigningKey, config: CoordinatorConfig, file: FileRow, subject: string, ttl = config.tokenTtlS, now = new Date()) {
  const where = await placementsOf(db, file.id);
  const tokens = await readTokens(
    key,
    file,
    subject,
    where.map((p) => p.relayId),
    ttl
  );
  return {
    fileId: file.id,
    // Issue #18: the record's name (what retrieval checks the authenticated record against) and, after a
    // rename, the display name retrieval saves under.
    name: file.recordName ?? file.name,
    ...(file.recordName !== null && file.recordName !== file.name ? { displayName: file.name } : {}),
    size: file.size,
    type: file.type,
    k: file.k,
    n: file.n,
    chunkSize: file.chunkSize,
    chunkCount: file.chunkCount,
    epoch: file.epoch,
    mode: file.mode,
    placements: where.map((p, i) => ({
      relayId: p.relayId,
      name: p.relay.name,
      url: p.relay.url,
      location: p.relay.location,
      x: p.x,
      online: isOnline(p.relay.lastHeartbeat, config, now),
      token: tokens[i]!,
      ...(p.groupX === null ? {} : { groupX: p.groupX })
    })),
    // Issue #21: a tree file's manifest tree (retrieval picks K groups and k_g relays in each).
    ...(file.layout ? { layout: file.layout } : {})
  } satisfies Manifest;
}

export async function removeFile(ctx: Ctx, rawId: unknown, now = new Date()) {
  const file = await visibleFile(ctx, rawId, { grantee: false, statuses: ['available', 'reserved'] });
  await ctx.db.update(files).set({ status: 'deleting' }).where(eq(files.id, file.id));
  await ctx.db.delete(grants).where(eq(grants.fileId, file.id));
  await enqueue(ctx.db, 'delete-file', file.id, { fileId: file.id }, now);
  await record(ctx.db, { userId: ctx.user.id, operation: 'remove', fileId: file.id, fileName: file.name, result: 'ok' });
  return { fileId: file.id, status: 'deleting' } satisfies RemoveResult;
}

/** The browser reports how a retrieval went (and which relays sent bad data) for the history. */
export async function reportRetrieval(ctx: Ctx, rawId: unknown, input: Record<string, unknown>) {
  const file = await visibleFile(ctx, rawId, { grantee: true, statuses: ['available'] });
  const result =
    input.result === 'ok'
      ? 'ok'
      : input.result === 'error'
        ? 'error'
        : (() => {
            throw v.wrongValue('result', 'ok, error');
          })();
  const badRelays = Array.isArray(input.badRelays) ? input.badRelays.filter((r): r is string => typeof r === 'string').slice(0, 255) : [];
  const where = await placementsOf(ctx.db, file.id);
  const names = badRelays.map((id) => where.find((p) => p.relayId === id)?.relay.name).filter(Boolean);
  // Relays that did not deliver (offline, timed out, sent too much) and were replaced or made it fail.
  const failedRelays = Array.isArray(input.failedRelays) ? input.failedRelays.filter((r): r is string => typeof r === 'string').slice(0, 255) : [];
  const failedNames = failedRelays.map((id) => where.find((p) => p.relayId === id)?.relay.name).filter(Boolean);
  const message = typeof input.message === 'string' ? input.message.slice(0, 300).replace(/[\p{Cc}]/gu, ' ') : '';
  // A relay of this file that the browser found down or sending bad data: the file's shares are checked now
  // rather than at the next `checking` period, so its health (and any repair, health.ts) follows at once.
  // Only relays that hold a share count, so a report naming nothing real schedules nothing; the check job is
  // one per file (jobs.ts enqueue), so reports cannot pile checks up.
  const checkScheduled = names.length + failedNames.length > 0;
  if (checkScheduled) await enqueueCheck(ctx.db, file.id);
  const detail = [names.length ? `bad data from: ${names.join(', ')}` : '', failedNames.length ? `no answer from: ${failedNames.join(', ')}` : '', message, checkScheduled ? 'check scheduled' : '']
    .filter(Boolean)
    .join('; ');
  await record(ctx.db, { userId: ctx.user.id, operation: 'retrieve', fileId: file.id, fileName: file.name, result, detail });
  return { recorded: true, checkScheduled };
}
