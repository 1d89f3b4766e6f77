/**
 * Usage: protected bytes (committed files, at their plaintext size), the bytes the licence quota holds
 * (those plus reservations in progress), and each person's own protected bytes. Counted on plaintext size,
 * as the licence counts them (ARCHITECTURE.md, Coordinator).
 */
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from './db/index.js';
import { files, placements, relays, users } from './db/schema.js';
import type { License } from './license.js';

/**
 * Protected bytes: plaintext of committed files only, whose sizes commitFile verified against what every
 * relay stored (issue #13 item 8b). Shown as usage.
 */
export async function protectedBytes(db: Db): Promise<number> {
  const [r] = await db
    .select({ n: sql<string>`coalesce(sum(${files.size}), 0)` })
    .from(files)
    .where(eq(files.status, 'available'));
  return Number(r?.n ?? 0);
}

/**
 * Bytes the quota holds: protected bytes plus uploads still reserved, at their declared size, which their
 * put tokens bound (parallel uploads must not pass the licence between them). A reservation that is not
 * committed in time is removed by the sweep (reservations.ts) and frees its share.
 */
export async function heldBytes(db: Db): Promise<number> {
  const [r] = await db
    .select({ n: sql<string>`coalesce(sum(${files.size}), 0)` })
    .from(files)
    .where(inArray(files.status, ['available', 'reserved']));
  return Number(r?.n ?? 0);
}

export async function usage(db: Db, license: License) {
  const used = await protectedBytes(db);
  return { protectedBytes: used, limitBytes: license.limits.protectedBytes, percent: Math.min(100, (100 * used) / license.limits.protectedBytes) };
}

/**
 * Protected bytes per person (issue #17 defect 9: a new user saw the system-wide "65 MiB used" while the
 * help said it was their own usage). Counted like protectedBytes: available files, plaintext size.
 */
export async function ownProtectedBytes(db: Db, userId: string): Promise<number> {
  const [r] = await db
    .select({ n: sql<string>`coalesce(sum(${files.size}), 0)` })
    .from(files)
    .where(and(eq(files.ownerId, userId), eq(files.status, 'available')));
  return Number(r?.n ?? 0);
}

/** One relay in the administrators' breakdown (usageBreakdown). */
export interface RelayUsage {
  id: string;
  name: string;
  status: 'online' | 'offline';
  lifecycle: (typeof relays.$inferSelect)['lifecycle'];
  storage: string;
  /** Committed files with a share on this relay, and their plaintext bytes (each share is about that size). */
  files: number;
  dataBytes: number;
  /** What the relay last reported (its signed heartbeat): bytes in its store, and free space (null: not reported). */
  usedBytes: number;
  freeBytes: number | null;
}

/** One person in the administrators' breakdown: their committed files, counted like protectedBytes. */
export interface UserUsage {
  id: string;
  email: string;
  displayName: string;
  files: number;
  protectedBytes: number;
}

export interface UsageBreakdown {
  relays: RelayUsage[];
  users: UserUsage[];
}

/**
 * Usage per relay and per person, for administrators (issue #17: "a per-relay and per-user breakdown,
 * free space per relay"). Per relay it sets what the coordinator placed there (committed files only, as
 * protectedBytes counts) beside what the relay itself reports in its heartbeat, so a relay holding more
 * than it should (leftovers, other data on its disk) shows. Retired relays hold nothing and are left out.
 * People are sorted by bytes, most first; relays by name. One query each: a licence allows at most 100
 * people and 10 relays, so neither list needs paging.
 */
export async function usageBreakdown(db: Db, now: Date, offlineAfterMs: number): Promise<UsageBreakdown> {
  const perRelay = await db
    .select({
      id: relays.id,
      name: relays.name,
      lifecycle: relays.lifecycle,
      storage: relays.storage,
      publicKey: relays.publicKey,
      lastHeartbeat: relays.lastHeartbeat,
      usedBytes: relays.usedBytes,
      freeBytes: relays.freeBytes,
      files: sql<number>`count(${files.id})::int`,
      dataBytes: sql<string>`coalesce(sum(${files.size}), 0)`
    })
    .from(relays)
    .leftJoin(placements, eq(placements.relayId, relays.id))
    .leftJoin(files, and(eq(files.id, placements.fileId), eq(files.status, 'available')))
    .where(sql`${relays.lifecycle} <> 'retired'`)
    .groupBy(relays.id)
    .orderBy(asc(relays.name), asc(relays.id));
  const bytes = sql<string>`coalesce(sum(${files.size}), 0)`;
  const perUser = await db
    .select({ id: users.id, email: users.email, displayName: users.displayName, files: sql<number>`count(${files.id})::int`, protectedBytes: bytes })
    .from(users)
    .leftJoin(files, and(eq(files.ownerId, users.id), eq(files.status, 'available')))
    .groupBy(users.id)
    .orderBy(sql`${bytes} desc`, asc(users.email));
  return {
    relays: perRelay.map((r) => ({
      id: r.id,
      name: r.name,
      // As listRelays says it: a relay never enrolled, or silent past the limit, is offline.
      status: r.publicKey !== null && now.getTime() - r.lastHeartbeat.getTime() <= offlineAfterMs ? 'online' : 'offline',
      lifecycle: r.lifecycle,
      storage: r.storage,
      files: Number(r.files),
      dataBytes: Number(r.dataBytes),
      usedBytes: r.usedBytes,
      freeBytes: r.freeBytes
    })),
    users: perUser.map((u) => ({ id: u.id, email: u.email, displayName: u.displayName, files: Number(u.files), protectedBytes: Number(u.protectedBytes) }))
  };
}
