/**
 * Usage: protected bytes (committed files, at their plaintext size), the bytes the licence quota holds
 * (those plus reservations in progress), and each person's own protected bytes. Counted on plaintext size,
 * as the licence counts them (ARCHITECTURE.md, Coordinator).
 */
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { RelayUsage, UsageBreakdown } from '@kofn/shared';
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
    relays: perRelay.map((r): RelayUsage => ({
      id: r.id,
      name: r.name,
      // As listRelays says it: a relay never enrolled, or silent past the limit, is offline.
      status: r.publicKey !== null && now.getTime() - r.lastHeartbeat.getTime() <= offlineAfterMs ? 'online' : 'offline',
      lifecycle: r.lifecycle,
      storage: r.storage,
      files: r.files,
      dataBytes: Number(r.dataBytes),
      usedBytes: r.usedBytes,
      freeBytes: r.freeBytes
    })),
    users: perUser.map((u) => ({ id: u.id, email: u.email, displayName: u.displayName, files: u.files, protectedBytes: Number(u.protectedBytes) }))
  };
}
