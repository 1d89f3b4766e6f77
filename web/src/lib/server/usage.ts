/**
 * Protected bytes per person (issue #17 defect 9: a new user saw the system-wide "65 MiB used" while the
 * help said it was their own usage). Counted like files.ts protectedBytes: available files, plaintext size.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from './db/index.js';
import { files } from './db/schema.js';

export async function ownProtectedBytes(db: Db, userId: string): Promise<number> {
  const [r] = await db
    .select({ n: sql<string>`coalesce(sum(${files.size}), 0)` })
    .from(files)
    .where(and(eq(files.ownerId, userId), eq(files.status, 'available')));
  return Number(r?.n ?? 0);
}
