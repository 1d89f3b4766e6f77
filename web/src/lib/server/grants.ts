/**
 * Read access for other users (Qasmat's add_read / revoke_read), for one or many files by e-mail.
 * Grantees get read tokens through the manifest; after revocation no new token is minted, so access
 * ends when the last token (15 minutes at most) expires.
 *
 * Uniform answers (issue #13, item 11): granting used to answer NOT_FOUND "No user with the e-mail ..."
 * for an address without an account, so any user could test which e-mails have accounts. Now an e-mail
 * with and without an account get the same status, body and work: one INSERT ... SELECT (or DELETE)
 * keyed by the e-mail, which writes a grant row only where the account exists, and one history row.
 * That history row (operation share/revoke, detail = e-mail, written by the file's owner) is the pending
 * grant: "shared by me" lists every e-mail whose latest share/revoke is a share, with or without an
 * account, and `claimPendingGrants` turns them into grants when an account with that e-mail is created.
 * (The history table serves because the schema may not change in this issue; a pending_grants table is
 * the cleaner home if a migration is allowed later.)
 */
import { and, desc, eq, inArray, isNull, ne, sql } from 'drizzle-orm';
import { KofnError } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, grants, history, users } from './db/schema.js';
import { record } from './history.js';
import type { Ctx } from './file-access.js';
import * as v from './validate.js';

export async function changeGrants(ctx: Ctx, input: Record<string, unknown>) {
  const action = input.action;
  if (action !== 'add_read' && action !== 'revoke_read') throw v.wrongValue('action', 'add_read, revoke_read');
  const emails = [...new Set((Array.isArray(input.emails) ? input.emails : [input.email]).map((e) => v.email(e)))];
  const ids = (Array.isArray(input.fileIds) ? input.fileIds : [input.fileId]).map((id) => v.fileId(id));
  if (emails.length === 0 || emails.length > 100 || ids.length === 0 || ids.length > 1000) throw v.wrongValue('emails/fileIds', '1..100 e-mails and 1..1000 files');
  const owned = await ctx.db
    .select()
    .from(files)
    .where(and(inArray(files.id, ids), eq(files.ownerId, ctx.user.id), eq(files.status, 'available')));
  if (owned.length !== new Set(ids).size) throw new KofnError('NOT_FOUND', 'File not found on the servers.');
  for (const f of owned) await grantOne(ctx.db, ctx, f, emails, action);
  return { action, files: owned.map((f) => f.id), emails };
}

/**
 * Adds or revokes read access to one owned, available file for `emails`, in `db` (a transaction, for
 * bulk-actions.ts). Every address takes the same statements whether or not it has an account (uniform
 * answers, above); the owner's own address is skipped by its text, which the owner knows anyway.
 */
export async function grantOne(db: Db, ctx: Ctx, f: { id: string; name: string }, emails: string[], action: 'add_read' | 'revoke_read'): Promise<void> {
  for (const email of emails.filter((e) => e !== ctx.user.email)) {
    const account = and(eq(users.email, email), ne(users.id, ctx.user.id));
    if (action === 'add_read') {
      const row = { fileId: sql<string>`${f.id}::text`.as('file_id'), userId: users.id, createdAt: sql<Date>`now()`.as('created_at') };
      // A repeated share moves `since` to now, as it does for a pending share (its newest history row), so
      // re-sharing and watching `since` cannot tell the two apart either.
      await db
        .insert(grants)
        .select(db.select(row).from(users).where(account))
        .onConflictDoUpdate({ target: [grants.fileId, grants.userId], set: { createdAt: sql`now()` } });
    } else {
      await db.delete(grants).where(and(eq(grants.fileId, f.id), inArray(grants.userId, db.select({ id: users.id }).from(users).where(account))));
    }
    await record(db, {
      userId: ctx.user.id,
      operation: action === 'add_read' ? 'share' : 'revoke',
      fileId: f.id,
      fileName: f.name,
      result: 'ok',
      detail: email
    });
  }
}

/** The e-mails of a grant request: 1..100 distinct valid addresses (`emails`, or one `email`). */
export function grantEmails(input: Record<string, unknown>): string[] {
  const emails = [...new Set((Array.isArray(input.emails) ? input.emails : [input.email]).map((e) => v.email(e)))];
  if (emails.length === 0 || emails.length > 100) throw v.wrongValue('emails', '1..100 e-mails');
  return emails;
}

/**
 * The owner's latest share or revoke per (file, e-mail) on files still available, with whether that
 * e-mail has an account now.
 */
async function latestShareOps(db: Db, where: ReturnType<typeof and>) {
  return db
    .selectDistinctOn([history.fileId, history.detail], { fileId: history.fileId, email: history.detail, operation: history.operation, at: history.createdAt, accountId: users.id })
    .from(history)
    .innerJoin(files, and(eq(files.id, history.fileId), eq(files.ownerId, history.userId)))
    .leftJoin(users, eq(users.email, history.detail))
    .where(and(where, inArray(history.operation, ['share', 'revoke']), eq(history.result, 'ok'), eq(files.status, 'available')))
    .orderBy(history.fileId, history.detail, desc(history.createdAt), desc(history.id));
}

/** A share (not a revocation) of a file still recorded (history keeps a removed file's id as null). */
function isShareOfFile<R extends { operation: string; fileId: string | null }>(r: R): r is R & { fileId: string } {
  return r.operation === 'share' && r.fileId !== null;
}

/**
 * Every e-mail a file of `ownerId` is shared with now: the accounts holding a grant, and the addresses
 * whose latest share/revoke is a share (pending shares, without an account). Bulk revoke (bulk-actions.ts)
 * revokes exactly these, so "shared by me" is empty for the file afterwards.
 */
export async function sharedEmails(db: Db, ownerId: string, fileId: string): Promise<string[]> {
  const granted = await db.select({ email: users.email }).from(grants).innerJoin(users, eq(users.id, grants.userId)).where(eq(grants.fileId, fileId));
  const latest = await latestShareOps(db, and(eq(history.userId, ownerId), eq(history.fileId, fileId)));
  return [...new Set([...granted.map((g) => g.email), ...latest.filter(isShareOfFile).map((r) => r.email)])].sort();
}

/** At account creation: the files shared with this e-mail while it had no account become readable. */
export async function claimPendingGrants(db: Db, user: { id: string; email: string }): Promise<void> {
  const latest = await latestShareOps(db, eq(history.detail, user.email));
  // `since` stays the time of the share, so the owner's list does not change when the account appears.
  const shared = latest.filter(isShareOfFile).map((r) => ({ fileId: r.fileId, userId: user.id, createdAt: r.at }));
  if (shared.length) await db.insert(grants).values(shared).onConflictDoNothing();
}

export async function sharedByMe(ctx: Ctx) {
  const rows = await ctx.db
    .select({ fileId: files.id, name: files.name, size: files.size, email: users.email, since: grants.createdAt })
    .from(grants)
    .innerJoin(files, eq(files.id, grants.fileId))
    .innerJoin(users, eq(users.id, grants.userId))
    .where(and(eq(files.ownerId, ctx.user.id), eq(files.status, 'available')));
  // Shares with e-mails that have no account (yet) are listed the same way, so this list does not tell
  // the owner which e-mails have accounts either; no display name is given for anyone, for that reason.
  const pending = (await latestShareOps(ctx.db, and(eq(history.userId, ctx.user.id), isNull(users.id)))).filter(isShareOfFile);
  const names = new Map(
    (
      await namesOf(
        ctx.db,
        ctx.user.id,
        pending.map((p) => p.fileId)
      )
    ).map((f) => [f.id, f])
  );
  const byFile = new Map<string, { fileId: string; name: string; size: number; grantees: Array<{ email: string; since: string }> }>();
  const add = (fileId: string, name: string, size: number, email: string, since: Date) => {
    const e = byFile.get(fileId) ?? { fileId, name, size, grantees: [] };
    e.grantees.push({ email, since: since.toISOString() });
    byFile.set(fileId, e);
  };
  for (const r of rows) add(r.fileId, r.name, r.size, r.email, r.since);
  for (const p of pending) {
    const f = names.get(p.fileId);
    if (f) add(f.id, f.name, f.size, p.email, p.at);
  }
  for (const e of byFile.values()) e.grantees.sort((a, b) => a.email.localeCompare(b.email));
  return [...byFile.values()].sort((a, b) => a.name.localeCompare(b.name));
}

async function namesOf(db: Db, ownerId: string, ids: string[]) {
  if (ids.length === 0) return [];
  return db
    .select({ id: files.id, name: files.name, size: files.size })
    .from(files)
    .where(and(inArray(files.id, [...new Set(ids)]), eq(files.ownerId, ownerId)));
}
