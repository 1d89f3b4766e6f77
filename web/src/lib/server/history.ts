/** Operation history per user: protect, retrieve, remove, share, revoke, with time and result. */
import { desc, eq } from 'drizzle-orm';
import type { Db } from './db/index.js';
import { history } from './db/schema.js';

export type Operation = (typeof history.$inferInsert)['operation'];

export async function record(db: Db, entry: { userId: string; operation: Operation; fileId?: string | null; fileName: string; result: 'ok' | 'error'; detail?: string }): Promise<void> {
  await db.insert(history).values({ ...entry, fileId: entry.fileId ?? null, detail: (entry.detail ?? '').slice(0, 1000) });
}

export async function listHistory(db: Db, userId: string, limit = 200) {
  const rows = await db.select().from(history).where(eq(history.userId, userId)).orderBy(desc(history.createdAt), desc(history.id)).limit(limit);
  return rows.map((r) => ({
    id: r.id,
    operation: r.operation,
    fileId: r.fileId,
    fileName: r.fileName,
    result: r.result,
    detail: r.detail,
    at: r.createdAt.toISOString()
  }));
}
