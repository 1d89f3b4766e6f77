/**
 * Reservations: a new file's checks (name, size, threshold, licence limits counted atomically), its
 * placement on relays with random distinct x, its upload tokens; replacing a relay that fails an upload;
 * and the sweep that removes reservations not committed in time. Committing one is files.ts commitFile.
 */
import { and, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import {
  DEFAULT_CHUNK_SIZE,
  KofnError,
  MAX_SHARES,
  FILE_MODES,
  chunkCountFor,
  newFileId,
  type FileMode,
  type BatchFailure,
  type BatchReservations,
  type OnNameConflict,
  type RelayReplacement,
  type Reservation,
  randomBelow
} from '@kofn/shared';
import type { Db } from './db/index.js';
import { present } from './db/present.js';
import { federationRemotes, files, folders, placements, relays } from './db/schema.js';
import { enqueue } from './jobs.js';
import * as v from './validate.js';
import { isOnline, placementsOf, relaysDownError, visibleFile, type Ctx } from './file-access.js';
import { tokensFor } from './capabilities.js';
import { heldBytes } from './usage.js';
import { batchItems, failed } from './batch.js';
import { folderNotFound, folderRef, freeName, holdsName, lockOwner, nameInUse, ownedFolders } from './folders.js';
import { byFreeSpace } from './relays.js';
import { checkTreeLayout, groupName, hasRemoteGroup, isTreeFile, moveRelayInTree, treeManifestFor, type CheckedLayout, type RemoteRow } from './tree-layouts.js';

/** n distinct x in 1..255, uniformly chosen (partial Fisher–Yates from random.ts). */
function pickXs(n: number): number[] {
  const pool = Array.from({ length: 255 }, (_, i) => i + 1);
  for (let i = 0; i < n; i++) {
    const j = i + randomBelow(255 - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, n);
}

/** The deployments linked here, read only when some layout has a group on one (federation, issue #21). */
async function linkedRemotes(ctx: Ctx, inputs: ReadonlyArray<Record<string, unknown>>): Promise<RemoteRow[]> {
  if (!inputs.some((i) => hasRemoteGroup(i.layout))) return [];
  return ctx.db.select({ deploymentId: federationRemotes.deploymentId, status: federationRemotes.status }).from(federationRemotes);
}

export interface ReserveInput {
  name: unknown;
  size: unknown;
  type: unknown;
  k: unknown;
  relays?: unknown;
  /** Issue #18: the folder to put the file in (absent: the root), and what to do when the name is taken. */
  folderId?: unknown;
  onConflict?: unknown;
  /** Issue #21: a two-level layout (shared/src/layout.ts); when given, `relays` must be absent and `k` is the layout's K. */
  layout?: unknown;
  /** Issue #23: 'shamir' (default) or 'compact' (shared/docs/compact-mode.md). */
  mode?: unknown;
}

type RelayRow = typeof relays.$inferSelect;

/** A reservation's request checked (everything but quota and name clashes, which need the lock). */
interface Checked {
  name: string;
  size: number;
  type: string;
  k: number;
  chosen: RelayRow[];
  folderId: string | null;
  onConflict: OnNameConflict;
  /** Issue #21: the checked layout of a tree file (chosen is then in tree order). */
  tree?: CheckedLayout;
  mode: FileMode;
}

const CONFLICT_CHOICES: readonly OnNameConflict[] = ['fail', 'skip', 'keepBoth', 'replace'];

function onConflict(raw: unknown): OnNameConflict {
  if (raw === undefined) return 'fail';
  if (typeof raw !== 'string' || !(CONFLICT_CHOICES as readonly string[]).includes(raw)) throw v.wrongValue('onConflict', CONFLICT_CHOICES.join(', '));
  return raw as OnNameConflict;
}

/**
 * Issue #23: the file's storage mode, Shamir unless the client asks for compact. The licence and quota count
 * plaintext bytes in both modes (a compact file stores n/k of its size across relays, but what is protected
 * is the file); only the share sizes the put tokens and commit allow differ (share-sizes.ts).
 */
function fileMode(raw: unknown): FileMode {
  if (raw === undefined) return 'shamir';
  if (typeof raw !== 'string' || !(FILE_MODES as readonly string[]).includes(raw)) throw v.wrongValue('mode', FILE_MODES.join(', '));
  return raw as FileMode;
}

function checkReservation(ctx: Ctx, input: Record<string, unknown>, all: RelayRow[], now: Date, remotes: readonly RemoteRow[] = []): Checked {
  const name = v.fileName(input.name);
  const folderId = folderRef(input.folderId);
  const choice = onConflict(input.onConflict);
  const mode = fileMode(input.mode);
  if (typeof input.size !== 'number' || !Number.isSafeInteger(input.size) || input.size < 0) {
    throw new KofnError('FILE_TOO_BIG', 'File too big, empty or wrong field.');
  }
  const size = input.size;
  if (size > ctx.license.limits.maxFileSize) {
    throw new KofnError('FILE_TOO_BIG', `File too big, empty or wrong field. The licence allows files up to ${ctx.license.limits.maxFileSize} bytes.`);
  }
  const type = input.type === undefined || input.type === '' ? 'application/octet-stream' : v.text(input.type, 'type', 255);
  // ---- multi-level hook (issue #21): a layout replaces k and relays ----
  if (input.layout !== undefined) {
    if (input.relays !== undefined) throw new KofnError('LAYOUT_INVALID', 'Give either "layout" or "relays", not both.');
    const layoutK = typeof input.layout === 'object' && input.layout !== null ? (input.layout as Record<string, unknown>).k : undefined;
    if (input.k !== undefined && input.k !== layoutK) throw new KofnError('LAYOUT_INVALID', '"k" must be absent or equal to the layout\'s number of groups needed.');
    // Compact mode is Shamir-only at the top of a tree for now (docs/multilevel.md): refused, never half-made.
    if (mode !== 'shamir') throw new KofnError('LAYOUT_NOT_SUPPORTED', 'Compact mode cannot be combined with a multi-level layout yet; choose Shamir or plain k of n.');
    const tree = checkTreeLayout(ctx, input.layout, all, now, remotes);
    return { name, size, type, k: tree.layout.k, chosen: tree.chosen, folderId, onConflict: choice, tree, mode };
  }
  if (typeof input.k !== 'number' || !Number.isInteger(input.k)) throw v.wrongValue('k', 'integers 2..255');
  const k = input.k;
  if (k < 2) throw new KofnError('THRESHOLD_TOO_LOW', 'The threshold must be at least 2.');

  let chosen: RelayRow[];
  if (input.relays === undefined) {
    // Only enrolled relays (key pinned) take new shares; a relay from before relay identity waits for its key.
    // Relays being drained, lost or retired (relay-lifecycle.ts) take no new shares.
    chosen = all.filter((r) => r.publicKey !== null && r.lifecycle === 'active' && isOnline(r.lastHeartbeat, ctx.config, now));
  } else {
    if (!Array.isArray(input.relays) || input.relays.length === 0 || input.relays.some((r) => typeof r !== 'string')) {
      throw v.wrongValue('relays', 'ids of registered storage servers');
    }
    const ids = [...new Set(input.relays as string[])];
    chosen = ids.map(
      (id) =>
        all.find((r) => r.id === id && r.lifecycle === 'active') ??
        (() => {
          throw v.wrongValue('relays', 'ids of storage servers in service');
        })()
    );
    const down = chosen.filter((r) => r.publicKey === null || !isOnline(r.lastHeartbeat, ctx.config, now));
    if (down.length > 0) throw relaysDownError(down, chosen.length);
  }
  const n = chosen.length;
  if (n > MAX_SHARES) throw v.wrongValue('relays', 'at most 255 storage servers');
  if (k > n) throw new KofnError('THRESHOLD_TOO_HIGH', 'The threshold is greater than the number of servers.');
  return { name, size, type, k, chosen, folderId, onConflict: choice, mode };
}

/** A file row and its placements for a checked request, ready to insert. */
function newReservation(ctx: Ctx, c: Checked, now: Date) {
  const id = newFileId();
  const chunkSize = DEFAULT_CHUNK_SIZE;
  // ---- multi-level hook (issue #21): a tree file draws group x's and relay x's ----
  const tree = c.tree ? treeManifestFor(c.tree, pickXs) : undefined;
  const xs = tree ? tree.relayXs : pickXs(c.chosen.length);
  return {
    file: {
      id,
      ownerId: ctx.user.id,
      name: c.name,
      size: c.size,
      type: c.type,
      k: c.k,
      n: c.chosen.length,
      mode: c.mode,
      chunkSize,
      chunkCount: chunkCountFor(c.size, chunkSize),
      status: 'reserved' as const,
      createdAt: now,
      folderId: c.folderId,
      replacesId: null as string | null,
      layout: tree?.tree ?? null
    },
    placements: c.chosen.map((r, i) => ({ fileId: id, relayId: r.id, x: xs[i]!, groupX: tree ? tree.groupXs[i]! : null })),
    chosen: c.chosen,
    onConflict: c.onConflict
  };
}
type NewReservation = ReturnType<typeof newReservation>;

/** Takes the quota lock; refuses when `bytes` more would pass the licence. */
async function takeQuota(ctx: Ctx, tx: Db, bytes: number): Promise<void> {
  // One reservation (or batch) at a time checks and takes quota, so parallel ones never exceed it.
  await tx.execute(sql`select pg_advisory_xact_lock(7102)`);
  const used = await heldBytes(tx);
  if (used + bytes > ctx.license.limits.protectedBytes) {
    console.warn(`kofn: licence storage limit reached (${used} of ${ctx.license.limits.protectedBytes} bytes); reservation refused.`);
    throw new KofnError('STORAGE_FULL', 'Storage limit reached: the licence allows no more protected bytes.');
  }
}

async function answer(ctx: Ctx, r: NewReservation, epoch: number): Promise<Reservation> {
  const tokens = await tokensFor(
    ctx,
    { ...r.file, epoch },
    'put',
    r.chosen.map((x) => x.id)
  );
  return {
    fileId: r.file.id,
    name: r.file.name,
    k: r.file.k,
    n: r.file.n,
    chunkSize: r.file.chunkSize,
    chunkCount: r.file.chunkCount,
    epoch,
    mode: r.file.mode,
    placements: r.chosen.map((x, i) => {
      const groupX = r.placements[i]!.groupX;
      return { relayId: x.id, name: x.name, url: x.url, x: r.placements[i]!.x, token: tokens[i]!, ...(groupX === null ? {} : { groupX }) };
    }),
    ...(r.file.layout ? { layout: r.file.layout } : {})
  } satisfies Reservation;
}

export async function reserveFile(ctx: Ctx, input: Record<string, unknown> & Partial<ReserveInput>, now = new Date()): Promise<Reservation> {
  const all = await ctx.db.select().from(relays);
  const remotes = await linkedRemotes(ctx, [input]);
  const planned: Array<NewReservation | BatchFailure> = [newReservation(ctx, checkReservation(ctx, input, all, now, remotes), now)];
  const file = await ctx.db.transaction(async (tx) => {
    await takeQuota(ctx, tx, (planned[0] as NewReservation).file.size);
    await claimNames(tx, ctx.user.id, planned);
    const r = planned[0]!;
    if (!('file' in r)) throw new KofnError(r.error.code, r.error.message);
    const [row] = await tx.insert(files).values(r.file).returning();
    await tx.insert(placements).values(r.placements);
    return present(row, 'the new file');
  });
  return answer(ctx, planned[0] as NewReservation, file.epoch);
}

/**
 * Settles each planned reservation's name in its folder (issue #18), under the owner's lock, in place: a
 * folder that is not the owner's (or is in the trash) fails the item with NOT_FOUND; a name taken (by a
 * file or folder there, or by an earlier item of this batch) fails it with FILENAME_IN_USE under `fail`
 * and `skip`, takes the first free "name (n)" under `keepBoth`, and under `replace` marks the file holding
 * it to be trashed when the new one commits (files.ts; a folder is never replaced by a file).
 */
async function claimNames(tx: Db, ownerId: string, planned: Array<NewReservation | BatchFailure>): Promise<void> {
  await lockOwner(tx, ownerId);
  const good = planned.filter((p): p is NewReservation => 'file' in p);
  if (good.length === 0) return;
  const alive = await ownedFolders(tx, ownerId, [...new Set(good.map((r) => r.file.folderId).filter((f): f is string => f !== null))]);
  const names = [...new Set(good.map((r) => r.file.name))];
  const key = (folderId: string | null, name: string) => `${folderId ?? ''}/${name}`;
  const held = new Map<string, { kind: 'file' | 'folder' | 'batch'; id: string }>();
  for (let i = 0; i < names.length; i += 500) {
    const slice = names.slice(i, i + 500);
    const fs = await tx
      .select({ id: files.id, name: files.name, folderId: files.folderId })
      .from(files)
      .where(and(eq(files.ownerId, ownerId), inArray(files.name, slice), holdsName()));
    for (const f of fs) held.set(key(f.folderId, f.name), { kind: 'file', id: f.id });
    const ds = await tx
      .select({ id: folders.id, name: folders.name, parentId: folders.parentId })
      .from(folders)
      .where(and(eq(folders.ownerId, ownerId), inArray(folders.name, slice), isNull(folders.trashedAt)));
    for (const d of ds) held.set(key(d.parentId, d.name), { kind: 'folder', id: d.id });
  }
  const takenInBatch = new Map<string, Set<string>>();
  for (const [i, p] of planned.entries()) {
    if (!('file' in p)) continue;
    const f = p.file;
    if (f.folderId !== null && !alive.has(f.folderId)) {
      planned[i] = failed(folderNotFound());
      continue;
    }
    const h = held.get(key(f.folderId, f.name));
    if (h) {
      if (p.onConflict === 'keepBoth') {
        f.name = await freeName(tx, ownerId, f.folderId, f.name, takenInBatch.get(f.folderId ?? ''));
      } else if (p.onConflict === 'replace' && h.kind === 'file') {
        f.replacesId = h.id;
      } else {
        planned[i] = failed(nameInUse());
        continue;
      }
    }
    held.set(key(f.folderId, f.name), { kind: 'batch', id: f.id });
    const set = takenInBatch.get(f.folderId ?? '') ?? new Set<string>();
    set.add(f.name);
    takenInBatch.set(f.folderId ?? '', set);
  }
}

/**
 * Reserves many files in one request (`POST /api/files/batch`). Each item is checked on its own like
 * `POST /api/files` and answers either its reservation or its error (bad name, threshold, offline relay,
 * a name already in use, including twice in this batch). The licence's storage is counted over the whole
 * batch at once, under the same lock as single reservations: if every good item together does not fit,
 * the batch reserves nothing (STORAGE_FULL for the request), so parallel batches can never pass the
 * licence and a client never has to guess which of its files were dropped. Reservations are taken in one
 * transaction: all good items or none.
 */
export async function reserveFiles(ctx: Ctx, input: Record<string, unknown>, now = new Date()): Promise<BatchReservations> {
  const items = batchItems(input);
  const all = await ctx.db.select().from(relays);
  const remotes = await linkedRemotes(ctx, items);
  const planned: Array<NewReservation | BatchFailure> = items.map((item) => {
    try {
      return newReservation(ctx, checkReservation(ctx, item, all, now, remotes), now);
    } catch (err) {
      return failed(err);
    }
  });
  const good = () => planned.filter((p): p is NewReservation => 'file' in p);
  const epochs = await ctx.db.transaction(async (tx) => {
    await takeQuota(
      ctx,
      tx,
      good().reduce((sum, r) => sum + r.file.size, 0)
    );
    await claimNames(tx, ctx.user.id, planned);
    const rows = good();
    if (rows.length === 0) return new Map<string, number>();
    // Inserted in slices: one statement's parameters stay far below PostgreSQL's 65,535.
    const out = new Map<string, number>();
    for (let i = 0; i < rows.length; i += 200) {
      const slice = rows.slice(i, i + 200);
      for (const row of await tx
        .insert(files)
        .values(slice.map((r) => r.file))
        .returning({ id: files.id, epoch: files.epoch }))
        out.set(row.id, row.epoch);
      await tx.insert(placements).values(slice.flatMap((r) => r.placements));
    }
    return out;
  });
  const results = await Promise.all(planned.map(async (p) => ('file' in p ? { ok: true as const, reservation: await answer(ctx, p, epochs.get(p.file.id)!) } : p)));
  return { results } satisfies BatchReservations;
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
  // Issue #21: a tree file's relays were chosen per group (a cloud, a site): its spare comes from the same
  // group label, or a relay of another group would hold sub-shares of two groups.
  const tree = isTreeFile(file);
  const spares = (await ctx.db.select().from(relays)).filter(
    (r) => r.lifecycle === 'active' && !used.has(r.id) && !exclude.has(r.id) && isOnline(r.lastHeartbeat, ctx.config, now) && (!tree || r.groupLabel === old.relay.groupLabel)
  );
  // The one with the most free space: the upload is about to put a whole file's share there.
  const spare = spares.sort(byFreeSpace)[0];
  if (!spare) {
    const group = tree ? ` in the group ${groupName(old.relay.groupLabel)}` : '';
    throw new KofnError('RELAYS_OFFLINE', `Some storage servers necessary for the operation are not connected. No other storage server${group} can replace ${old.relay.name}.`);
  }
  await ctx.db.transaction(async (tx) => {
    const moved = await tx
      .update(placements)
      .set({ relayId: spare.id })
      .where(and(eq(placements.fileId, file.id), eq(placements.relayId, old.relayId)))
      .returning({ x: placements.x });
    // Two replacements of the same relay at once: the second finds it gone.
    if (moved.length !== 1) throw new KofnError('CONFLICT', 'This storage server was already replaced.');
    // A tree file's manifest names each group's relays: the spare takes the failed relay's place and x there.
    if (tree) await moveRelayInTree(tx, file.id, old.relayId, spare.id);
    await enqueue(tx, 'delete-file-on-relay', `${file.id}:${old.relayId}`, { fileId: file.id, relayId: old.relayId }, now);
  });
  const [token] = await tokensFor(ctx, file, 'put', [spare.id]);
  return {
    replaced: old.relayId,
    placement: { relayId: spare.id, name: spare.name, url: spare.url, x: old.x, token: present(token, "the spare relay's token"), ...(old.groupX === null ? {} : { groupX: old.groupX }) }
  } satisfies RelayReplacement;
}

/**
 * The sweep: reservations older than `ttlMs` are marked deleting and a durable job deletes whatever their
 * relays got (maintenance.ts 'delete-file'), which also frees the quota they held.
 */
export async function sweepReservations(db: Db, ttlMs: number, now = new Date()): Promise<string[]> {
  const stale = await db
    .update(files)
    .set({ status: 'deleting' })
    .where(and(eq(files.status, 'reserved'), lt(files.createdAt, new Date(now.getTime() - ttlMs))))
    .returning({ id: files.id });
  for (const f of stale) await enqueue(db, 'delete-file', f.id, { fileId: f.id }, now);
  return stale.map((f) => f.id);
}
