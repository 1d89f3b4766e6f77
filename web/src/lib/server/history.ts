/** Operation history per user: protect, retrieve, remove, share, revoke, with time and result. */
import { desc, eq } from 'drizzle-orm';
import type { Db } from './db/index.js';
import { history } from './db/schema.js';

export type Operation = (typeof history.$inferInsert)['operation'];

export interface HistoryEntry {
  userId: string;
  operation: Operation;
  fileId?: string | null;
  fileName: string;
  result: 'ok' | 'error';
  detail?: string;
}

const row = (entry: HistoryEntry) => ({ ...entry, fileId: entry.fileId ?? null, detail: (entry.detail ?? '').slice(0, 1000) });

export async function record(db: Db, entry: HistoryEntry): Promise<void> {
  await db.insert(history).values(row(entry));
}

/** Many entries in few statements (a batch commit, issue #14: one INSERT per file was 1,000 statements). */
export async function recordMany(db: Db, entries: readonly HistoryEntry[]): Promise<void> {
  // 7 parameters a row: 500 rows stay far below PostgreSQL's 65,535 parameters per statement.
  for (let i = 0; i < entries.length; i += 500) await db.insert(history).values(entries.slice(i, i + 500).map(row));
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
