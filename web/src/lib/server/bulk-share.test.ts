/**
 * Bulk share (`POST /api/folders/bulk` `{ action: 'share' }`, bulk-actions.ts; issue #18 multi-select) on
 * PGlite and PostgreSQL with real relays: one result per file, a bad file refused on its own, the grants
 * and "shared by me" exactly as single shares make them, and the same answer for an address with or
 * without an account.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { MAX_BATCH_FILES } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import { grants } from './db/schema.js';
import { bulkAction } from './bulk-actions.js';
import { sharedWithMe } from './files.js';
import { sharedByMe } from './grants.js';
import { createFolder } from './folders.js';
import { trashFileIn } from './trash.js';
import { protect } from './testing/protect.js';
import { errorCode, useFileServices } from './testing/file-services.js';

describeDatabases('bulk share on $name', ({ open }) => {
  const fx = useFileServices(open);

  it('shares each file of a selection with one result per file; a bad file fails alone', async () => {
    const a = await protect(fx.alice, 'bulk-a.bin', randomBytes(300), 2);
    const b = await protect(fx.alice, 'bulk-b.bin', randomBytes(300), 2);
    const trashed = await protect(fx.alice, 'bulk-trashed.bin', randomBytes(300), 2);
    await fx.alice.db.transaction((tx) => trashFileIn(tx, fx.alice.user.id, trashed, new Date()));
    const bobs = await protect(fx.bob, 'bob-own.bin', randomBytes(300), 2);
    const missing = randomBytes(16).toString('hex');
    const { results } = await bulkAction(fx.alice, { action: 'share', files: [a, bobs, b, trashed, missing, 'not-an-id'], emails: ['bob@x.test'] });
    expect(results.map((r) => (r.ok ? `ok:${r.id}` : r.error.code))).toEqual([`ok:${a}`, 'NOT_FOUND', `ok:${b}`, 'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND']);
    // Bob can read exactly the two shared files; the bad items changed nothing.
    expect((await sharedWithMe(fx.bob)).map((f) => f.name).sort()).toEqual(['bulk-a.bin', 'bulk-b.bin']);
    expect(await fx.alice.db.select().from(grants).where(eq(grants.fileId, trashed))).toEqual([]);
    expect(
      await fx.bob.db
        .select()
        .from(grants)
        .where(and(eq(grants.fileId, bobs)))
    ).toEqual([]);
    const byMe = await sharedByMe(fx.alice);
    expect(byMe.filter((s) => s.fileId === a || s.fileId === b).map((s) => s.grantees.map((g) => g.email))).toEqual([['bob@x.test'], ['bob@x.test']]);
    // Sharing again is harmless (the grant stays one row).
    const again = await bulkAction(fx.alice, { action: 'share', files: [a], emails: ['bob@x.test'] });
    expect(again.results[0]?.ok).toBe(true);
    expect(await fx.alice.db.select().from(grants).where(eq(grants.fileId, a))).toHaveLength(1);
  });

  it('answers the same for an address without an account (pending share), and refuses bad requests whole', async () => {
    const c = await protect(fx.alice, 'bulk-c.bin', randomBytes(300), 2);
    const withAccount = await bulkAction(fx.alice, { action: 'share', files: [c], emails: ['bob@x.test'] });
    const without = await bulkAction(fx.alice, { action: 'share', files: [c], emails: ['nobody-yet@x.test'] });
    expect(without).toEqual(withAccount);
    expect((await sharedByMe(fx.alice)).find((s) => s.fileId === c)?.grantees.map((g) => g.email)).toEqual(['bob@x.test', 'nobody-yet@x.test']);
    const folder = await createFolder(fx.alice, { name: 'not-shareable' });
    expect(await errorCode(bulkAction(fx.alice, { action: 'share', files: [c], folders: [folder.id], emails: ['bob@x.test'] }))).toBe('WRONG_VALUE');
    expect(await errorCode(bulkAction(fx.alice, { action: 'share', files: [c] }))).toBe('WRONG_VALUE');
    expect(await errorCode(bulkAction(fx.alice, { action: 'share', files: [c], emails: ['not an e-mail'] }))).toBe('WRONG_VALUE');
    expect(await errorCode(bulkAction(fx.alice, { action: 'share', files: [c], emails: Array.from({ length: 101 }, (_, i) => `u${i}@x.test`) }))).toBe('WRONG_VALUE');
    expect(await errorCode(bulkAction(fx.alice, { action: 'share', files: Array.from({ length: MAX_BATCH_FILES + 1 }, () => c), emails: ['bob@x.test'] }))).toBe('WRONG_VALUE');
    expect(await errorCode(bulkAction(fx.alice, { action: 'share', files: [], emails: ['bob@x.test'] }))).toBe('WRONG_VALUE');
  });
});
