/**
 * The preview size limit (issue #18): the largest file the browser retrieves into its memory to show
 * (engine/preview.ts). A preview holds the whole plaintext in the page until it closes, so the
 * administrator decides what the people of this instance's machines can afford; the default is 64 MiB
 * (the issue's). Kept in the instance settings table, like the security policy (second-factor.ts), so it
 * survives restarts and is the same for every coordinator of one database.
 */
import { eq } from 'drizzle-orm';
import type { Db } from './db/index.js';
import { settings } from './db/schema.js';
import { record } from './history.js';
import type { User } from './auth.js';
import * as v from './validate.js';

const KEY = 'preview-limit';
const MiB = 1024 * 1024;
export const DEFAULT_PREVIEW_LIMIT = 64 * MiB;
/** At least 1 MiB; at most 1 GiB: past that a browser tab runs short of memory for one blob. */
export const MIN_PREVIEW_LIMIT = MiB;
export const MAX_PREVIEW_LIMIT = 1024 * MiB;

export async function previewLimit(db: Db): Promise<{ previewLimit: number }> {
  const [row] = await db.select().from(settings).where(eq(settings.key, KEY));
  const value = (row?.value as { bytes?: unknown } | undefined)?.bytes;
  // A stored value outside today's bounds (an older or hand-edited row) falls back to the default.
  const ok = typeof value === 'number' && Number.isSafeInteger(value) && value >= MIN_PREVIEW_LIMIT && value <= MAX_PREVIEW_LIMIT;
  return { previewLimit: ok ? value : DEFAULT_PREVIEW_LIMIT };
}

/** An administrator sets the limit: `{ previewLimit: bytes }`, 1 MiB to 1 GiB. Recorded in their history. */
export async function setPreviewLimit(db: Db, admin: User, input: Record<string, unknown>): Promise<{ previewLimit: number }> {
  const bytes = v.integer(input.previewLimit, 'previewLimit', MIN_PREVIEW_LIMIT, MAX_PREVIEW_LIMIT);
  const value = { bytes };
  await db
    .insert(settings)
    .values({ key: KEY, value })
    .onConflictDoUpdate({ target: settings.key, set: { value, updatedAt: new Date() } });
  await record(db, { userId: admin.id, operation: 'preview_limit', fileName: '', result: 'ok', detail: `previews up to ${+(bytes / MiB).toFixed(2)} MiB` });
  return { previewLimit: bytes };
}
