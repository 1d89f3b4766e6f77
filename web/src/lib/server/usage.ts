/**
 * Usage: protected bytes (committed files, at their plaintext size), the bytes the licence quota holds
 * (those plus reservations in progress), and each person's own protected bytes. Counted on plaintext size,
 * as the licence counts them (ARCHITECTURE.md, Coordinator).
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from './db/index.js';
import { files } from './db/schema.js';
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
