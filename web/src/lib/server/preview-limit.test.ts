/**
 * The preview size limit (issue #18; preview-limit.ts) on PGlite and PostgreSQL: 64 MiB until an
 * administrator sets another, kept in the settings table (a second connection sees it), bounded, refused
 * whole with WRONG_VALUE, and recorded in the administrator's history.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import { errorCode as code } from './testing/file-services.js';
import type { Database } from './db/index.js';
import { history, settings } from './db/schema.js';
import { createUser, type User } from './auth.js';
import { DEFAULT_PREVIEW_LIMIT, MAX_PREVIEW_LIMIT, MIN_PREVIEW_LIMIT, previewLimit, setPreviewLimit } from './preview-limit.js';

const MiB = 1024 * 1024;

describeDatabases('preview limit on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let admin: User;

  beforeAll(async () => {
    database = await open();
    admin = await createUser(database.db, { email: 'root@x.test', displayName: 'Root', password: 'root password 1', role: 'admin' }, 100);
  });
  afterAll(() => database.drop());

  it('is 64 MiB by default; a set value persists and is recorded', async () => {
    expect(DEFAULT_PREVIEW_LIMIT).toBe(64 * MiB);
    expect(await previewLimit(database.db)).toEqual({ previewLimit: 64 * MiB });
    expect(await setPreviewLimit(database.db, admin, { previewLimit: 5 * MiB })).toEqual({ previewLimit: 5 * MiB });
    expect(await previewLimit(database.db)).toEqual({ previewLimit: 5 * MiB });
    // Set again: one row, the newest value.
    await setPreviewLimit(database.db, admin, { previewLimit: MAX_PREVIEW_LIMIT });
    expect(await previewLimit(database.db)).toEqual({ previewLimit: 1024 * MiB });
    expect(await database.db.select().from(settings).where(eq(settings.key, 'preview-limit'))).toHaveLength(1);
    const h = await database.db.select().from(history).where(eq(history.operation, 'preview_limit'));
    expect(h.map((r) => [r.userId, r.detail])).toEqual([
      [admin.id, 'previews up to 5 MiB'],
      [admin.id, 'previews up to 1024 MiB']
    ]);
  });

  it('refuses values that are not whole bytes within 1 MiB..1 GiB, changing nothing', async () => {
    await setPreviewLimit(database.db, admin, { previewLimit: 10 * MiB });
    for (const bad of [MIN_PREVIEW_LIMIT - 1, MAX_PREVIEW_LIMIT + 1, 0, -MiB, 1.5 * MiB + 0.5, '10485760', null, undefined, Number.MAX_SAFE_INTEGER + 2, Number.NaN]) {
      expect(await code(setPreviewLimit(database.db, admin, { previewLimit: bad }))).toBe('WRONG_VALUE');
    }
    expect(await code(setPreviewLimit(database.db, admin, {}))).toBe('WRONG_VALUE');
    expect(await previewLimit(database.db)).toEqual({ previewLimit: 10 * MiB });
    expect(await setPreviewLimit(database.db, admin, { previewLimit: MIN_PREVIEW_LIMIT })).toEqual({ previewLimit: MiB });
  });

  it('falls back to the default when the stored row is out of bounds or malformed', async () => {
    for (const value of [{ bytes: 3 }, { bytes: 'x' }, { other: 1 }, 42]) {
      await database.db.update(settings).set({ value }).where(eq(settings.key, 'preview-limit'));
      expect(await previewLimit(database.db)).toEqual({ previewLimit: DEFAULT_PREVIEW_LIMIT });
    }
  });
});
