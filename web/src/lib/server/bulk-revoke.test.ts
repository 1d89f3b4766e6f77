/**
 * Bulk revoke (`POST /api/folders/bulk` `{ action: 'revoke' }`, bulk-actions.ts; issue #18 multi-select)
 * on PGlite and PostgreSQL with real relays: every grant, pending share and link of each selected file
 * ends, one result per file with its counts; another user's file, a missing one and a malformed id are
 * NOT_FOUND on their own and change nothing; a pending share revoked is not claimed by the account made
 * later; malformed requests are refused whole.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { and, eq, isNull } from 'drizzle-orm';
import { MAX_BATCH_FILES, linkKey, newLinkSecret } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import { grants, history, shareLinks } from './db/schema.js';
import { bulkAction } from './bulk-actions.js';
import { sharedWithMe } from './files.js';
import { changeGrants, sharedByMe } from './grants.js';
import { createLink, revokeLink } from './share-links.js';
import { createFolder } from './folders.js';
import { trashFileIn } from './trash.js';
import { createUser } from './auth.js';
import type { Ctx } from './file-access.js';
import { protect } from './testing/protect.js';
import { errorCode, useFileServices } from './testing/file-services.js';

const inDays = (d: number) => new Date(Date.now() + d * 86400_000).toISOString();

async function link(ctx: Ctx, fileId: string): Promise<string> {
  const k = await linkKey(newLinkSecret());
  return (await createLink(ctx, { fileId, publicKey: k.publicKey, passwordProtected: false, expiresAt: inDays(7) })).id;
}

describeDatabases('bulk revoke on $name', ({ open }) => {
  const fx = useFileServices(open);

  it('ends every grant, pending share and link of each file, with per-file counts; bad files fail alone', async () => {
    const a = await protect(fx.alice, 'rev-a.bin', randomBytes(300), 2);
    const b = await protect(fx.alice, 'rev-b.bin', randomBytes(300), 2);
    const c = await protect(fx.alice, 'rev-c.bin', randomBytes(300), 2);
    const untouched = await protect(fx.alice, 'rev-untouched.bin', randomBytes(300), 2);
    const trashed = await protect(fx.alice, 'rev-trashed.bin', randomBytes(300), 2);
    const bobs = await protect(fx.bob, 'bob-own.bin', randomBytes(300), 2);
    await changeGrants(fx.alice, { action: 'add_read', emails: ['bob@x.test', 'carol-later@x.test'], fileIds: [a] });
    await changeGrants(fx.alice, { action: 'add_read', emails: ['bob@x.test'], fileIds: [b, untouched, trashed] });
    await changeGrants(fx.bob, { action: 'add_read', emails: ['alice@x.test'], fileIds: [bobs] });
    const linkA = await link(fx.alice, a);
    const earlier = await link(fx.alice, a);
    await revokeLink(fx.alice, earlier);
    const [{ revokedAt: earlierAt }] = (await fx.alice.db.select({ revokedAt: shareLinks.revokedAt }).from(shareLinks).where(eq(shareLinks.id, earlier))) as [{ revokedAt: Date }];
    const linkC = await link(fx.alice, c);
    const linkUntouched = await link(fx.alice, untouched);
    const linkTrashed = await link(fx.alice, trashed);
    const linkBob = await link(fx.bob, bobs);
    await fx.alice.db.transaction((tx) => trashFileIn(tx, fx.alice.user.id, trashed, new Date()));
    const missing = randomBytes(16).toString('hex');

    const { results } = await bulkAction(fx.alice, { action: 'revoke', files: [a, bobs, b, c, missing, 'not-an-id', trashed] });
    expect(results).toEqual([
      { ok: true, kind: 'file', id: a, revoked: { people: 2, links: 1 } },
      { ok: false, error: { code: 'NOT_FOUND', message: 'File not found on the servers.' } },
      { ok: true, kind: 'file', id: b, revoked: { people: 1, links: 0 } },
      { ok: true, kind: 'file', id: c, revoked: { people: 0, links: 1 } },
      { ok: false, error: { code: 'NOT_FOUND', message: 'File not found on the servers.' } },
      { ok: false, error: { code: 'NOT_FOUND', message: 'File not found on the servers.' } },
      // In the trash: still the owner's, and its sharing ends too (it would come back with a restore).
      { ok: true, kind: 'file', id: trashed, revoked: { people: 1, links: 1 } }
    ]);

    // Bob reads only the file that was not in the request; "shared by me" lists only that one.
    expect((await sharedWithMe(fx.bob)).map((f) => f.name)).toEqual(['rev-untouched.bin']);
    expect((await sharedByMe(fx.alice)).map((s) => s.name)).toEqual(['rev-untouched.bin']);
    // Links: the file's active ones revoked now, the earlier revocation kept, the others untouched.
    const linkRows = new Map((await fx.alice.db.select().from(shareLinks)).map((l) => [l.id, l.revokedAt]));
    expect(linkRows.get(linkA)).toBeInstanceOf(Date);
    expect(linkRows.get(linkC)).toBeInstanceOf(Date);
    expect(linkRows.get(linkTrashed)).toBeInstanceOf(Date);
    expect(linkRows.get(earlier)).toEqual(earlierAt);
    expect(linkRows.get(linkUntouched)).toBeNull();
    expect(linkRows.get(linkBob)).toBeNull();
    // Bob's own file and his share with Alice are not Alice's to revoke: unchanged.
    expect(await fx.bob.db.select().from(grants).where(eq(grants.fileId, bobs))).toHaveLength(1);
    expect((await sharedWithMe(fx.alice)).map((f) => f.name)).toEqual(['bob-own.bin']);
    // The history says what happened, per person and per link.
    const ops = await fx.alice.db
      .select({ op: history.operation, fileId: history.fileId, detail: history.detail })
      .from(history)
      .where(and(eq(history.userId, fx.alice.user.id), eq(history.fileId, a)))
      .orderBy(history.id);
    expect(ops.filter((o) => o.op === 'revoke').map((o) => o.detail)).toEqual(['bob@x.test', 'carol-later@x.test']);
    expect(ops.filter((o) => o.op === 'link_revoke').map((o) => o.detail)).toEqual([`link ${earlier}`, `link ${linkA}`]);

    // The pending share with Carol was revoked: her account, made now, reads nothing.
    const carol = await createUser(fx.alice.db, { email: 'carol-later@x.test', displayName: 'Carol', password: 'carol password 1', role: 'user' }, 10);
    expect(await sharedWithMe({ ...fx.alice, user: carol })).toEqual([]);

    // Again: nothing left to revoke, still ok.
    expect((await bulkAction(fx.alice, { action: 'revoke', files: [a] })).results).toEqual([{ ok: true, kind: 'file', id: a, revoked: { people: 0, links: 0 } }]);
    expect(
      await fx.alice.db
        .select()
        .from(shareLinks)
        .where(and(eq(shareLinks.fileId, a), isNull(shareLinks.revokedAt)))
    ).toEqual([]);
  });

  it('refuses malformed requests whole, changing nothing', async () => {
    const d = await protect(fx.alice, 'rev-d.bin', randomBytes(300), 2);
    await changeGrants(fx.alice, { action: 'add_read', emails: ['bob@x.test'], fileIds: [d] });
    const folder = await createFolder(fx.alice, { name: 'not-revocable' });
    for (const input of [
      { action: 'revoke', files: [d], folders: [folder.id] },
      { action: 'revoke', files: [] },
      { action: 'revoke' },
      { action: 'revoke', files: d },
      { action: 'revoke', files: Array.from({ length: MAX_BATCH_FILES + 1 }, () => d) },
      { action: 'revoke-all', files: [d] }
    ]) {
      expect(await errorCode(bulkAction(fx.alice, input)), JSON.stringify(input).slice(0, 60)).toBe('WRONG_VALUE');
    }
    expect((await sharedWithMe(fx.bob)).map((f) => f.name)).toContain('rev-d.bin');
  });
});
