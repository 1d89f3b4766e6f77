/**
 * Password lifecycle and user administration (issue #19): change one's own password (the current one
 * required, throttled like sign-in), list one's sessions and end the others, and for administrators:
 * reset a password, disable/enable an account (its sessions end at once), change a role. No change may
 * leave the instance without an enabled administrator.
 */
import { createHash } from 'node:crypto';
import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2';
import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import { KofnError } from '@kofn/shared';
import type { Db } from './db/index.js';
import { present } from './db/present.js';
import { apiTokens, files, grants, sessions, shareLinks, users } from './db/schema.js';
import { enqueue } from './jobs.js';
import { sessionIdOf, type User } from './auth.js';
import { loginFailed, loginSucceeded, takeAttempt } from './login-throttle.js';
import { newPassword } from './password-policy.js';
import { record } from './history.js';
import * as v from './validate.js';

/** A handle for a session that is not its stored id (the SHA-256 of the cookie): nothing to replay. */
const handleOf = (id: string) => createHash('sha256').update(`kofn session handle\n${id}`).digest('hex').slice(0, 32);

/**
 * Changes the signed-in user's password. The current password is checked through the sign-in throttle
 * (a stolen session must not become a password-guessing oracle); every other session of the user ends.
 */
export async function changePassword(db: Db, user: User, input: Record<string, unknown>, client: string, currentToken: string | undefined, now = new Date()) {
  if (typeof input.currentPassword !== 'string' || input.currentPassword.length > 1024) throw v.wrongValue('currentPassword', 'the current password');
  const next = newPassword(input.newPassword, 'new password');
  await takeAttempt(db, user.email, client, now);
  const [row] = await db.select().from(users).where(eq(users.id, user.id));
  if (!row?.passwordHash || !(await argonVerify(row.passwordHash, input.currentPassword))) {
    await loginFailed(db, user.email, now);
    throw new KofnError('INVALID_CREDENTIALS', 'The current password is wrong.');
  }
  await loginSucceeded(db, user.email, client);
  if (next === input.currentPassword) throw new KofnError('WEAK_PASSWORD', 'The new password must differ from the current one.');
  await db
    .update(users)
    .set({ passwordHash: await argonHash(next), mustChangePassword: false })
    .where(eq(users.id, user.id));
  const ended = await endOtherSessions(db, user.id, currentToken);
  return { changed: true, otherSessionsEnded: ended };
}

export async function listSessions(db: Db, userId: string, currentToken: string | undefined) {
  const current = currentToken ? sessionIdOf(currentToken) : '';
  const rows = await db.select().from(sessions).where(eq(sessions.userId, userId)).orderBy(sessions.createdAt);
  return rows.map((s) => ({ handle: handleOf(s.id), createdAt: s.createdAt.toISOString(), expiresAt: s.expiresAt.toISOString(), current: s.id === current }));
}

/** "Sign out everywhere else": every session of the user but the one making the request. */
export async function endOtherSessions(db: Db, userId: string, currentToken: string | undefined): Promise<number> {
  const keep = currentToken ? sessionIdOf(currentToken) : '';
  const gone = await db
    .delete(sessions)
    .where(and(eq(sessions.userId, userId), ne(sessions.id, keep)))
    .returning({ id: sessions.id });
  return gone.length;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function userId(raw: unknown): string {
  if (typeof raw !== 'string' || !UUID.test(raw)) throw new KofnError('NOT_FOUND', 'User not found.');
  return raw;
}

/**
 * An administrator changes an account: `disabled` (sessions end at once), `role`, `password` (a reset: the
 * account's sessions end). Under the user-creation lock, so two administrators demoting each other at
 * once cannot both succeed and leave none.
 */
export async function administer(db: Db, admin: User, rawId: unknown, input: Record<string, unknown>) {
  const id = userId(rawId);
  const disabled =
    input.disabled === undefined
      ? undefined
      : typeof input.disabled === 'boolean'
        ? input.disabled
        : (() => {
            throw v.wrongValue('disabled', 'true, false');
          })();
  const role =
    input.role === undefined
      ? undefined
      : input.role === 'admin' || input.role === 'user'
        ? input.role
        : (() => {
            throw v.wrongValue('role', 'admin, user');
          })();
  const password = input.password === undefined ? undefined : newPassword(input.password);
  // A reset password is the administrator's choice, so by default the user must change it at sign-in.
  if (input.mustChangePassword !== undefined && typeof input.mustChangePassword !== 'boolean') throw v.wrongValue('mustChangePassword', 'true, false');
  const mustChange = password === undefined ? undefined : input.mustChangePassword !== false;
  if (disabled === undefined && role === undefined && password === undefined) throw v.wrongValue('disabled/role/password', 'at least one of them');
  const passwordHash = password === undefined ? undefined : await argonHash(password);
  const row = await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(7101)`);
    const [target] = await tx.select().from(users).where(eq(users.id, id));
    if (!target) throw new KofnError('NOT_FOUND', 'User not found.');
    const staysAdmin = (role ?? target.role) === 'admin' && !(disabled ?? target.disabled);
    if (target.role === 'admin' && !target.disabled && !staysAdmin) {
      const [r] = await tx
        .select({ n: sql<number>`count(*)::int` })
        .from(users)
        .where(and(eq(users.role, 'admin'), eq(users.disabled, false)));
      if ((r?.n ?? 0) <= 1) throw new KofnError('LAST_ADMIN', 'This is the last enabled administrator; make another administrator first.');
    }
    const [updated] = await tx
      .update(users)
      .set({ ...(disabled === undefined ? {} : { disabled }), ...(role === undefined ? {} : { role }), ...(passwordHash === undefined ? {} : { passwordHash, mustChangePassword: mustChange }) })
      .where(eq(users.id, id))
      .returning();
    // Disabling or a reset ends the account's sessions at once (sessionUser also refuses disabled accounts).
    if (disabled === true || passwordHash !== undefined) await tx.delete(sessions).where(eq(sessions.userId, id));
    return present(updated, 'the updated user');
  });
  const what = [disabled === undefined ? '' : disabled ? 'disabled' : 'enabled', role ? `role ${role}` : '', password === undefined ? '' : 'password reset'].filter(Boolean).join(', ');
  await record(db, { userId: admin.id, operation: 'user_changed', fileName: '', result: 'ok', detail: `${row.email}: ${what}` });
  return { user: { id: row.id, email: row.email, displayName: row.displayName, role: row.role, disabled: row.disabled, mustChangePassword: row.mustChangePassword } };
}

/** What happens to a deleted account's files: deleted through the jobs, or given to another account. */
function filesChoice(input: Record<string, unknown>): { files: 'delete' } | { files: 'transfer'; to: string } {
  if (input.files === undefined || input.files === 'delete') {
    if (input.to !== undefined) throw v.wrongValue('to', 'nothing unless files is "transfer"');
    return { files: 'delete' };
  }
  if (input.files !== 'transfer') throw v.wrongValue('files', 'delete, transfer');
  if (typeof input.to !== 'string' || !UUID.test(input.to)) throw v.wrongValue('to', 'the id of the account that receives the files');
  return { files: 'transfer', to: input.to };
}

/** A name the recipient does not use yet: "report.pdf (from eve@x.test)", then " 2", " 3"... */
function freeName(name: string, from: string, taken: Set<string>): string {
  if (!taken.has(name)) return name;
  for (let i = 1; ; i++) {
    const tail = ` (from ${from}${i === 1 ? '' : ` ${i}`})`;
    // Names are at most 255 characters (validate.ts fileName): the original is cut, never the tail.
    const candidate = name.slice(0, 255 - tail.length).trimEnd() + tail;
    if (!taken.has(candidate)) return candidate;
  }
}

/**
 * An administrator deletes an account (issue #19), choosing what becomes of its files (`files`):
 * - `delete` (the default): every file it owns starts deleting on every relay (the `delete-file` jobs, as
 *   a removal does), and loses its grants;
 * - `transfer` with `to` (an enabled account): its protected files become that account's at once, shares
 *   untouched on the relays; a name the recipient already uses gets " (from <e-mail>)"; grants to others
 *   stay, a grant to the recipient itself goes (it owns the file now). Its unfinished uploads are deleted.
 * Either way, at once: the account is disabled, its sessions, API tokens and share links end. The account
 * row itself goes in the `delete-user` job once none of its files is left on any relay (maintenance.ts),
 * taking its history and grants with it; until then the e-mail stays taken, so nobody can sign up in its
 * place and inherit what is left, and it is counted against the licence's users until then. Not oneself,
 * and never the last enabled administrator.
 */
export async function deleteUser(db: Db, admin: User, rawId: unknown, input: Record<string, unknown> = {}, now = new Date()) {
  const id = userId(rawId);
  const choice = filesChoice(input);
  if (id === admin.id) throw new KofnError('FORBIDDEN', 'You cannot delete your own account; another administrator can.');
  if (choice.files === 'transfer' && choice.to === id) throw v.wrongValue('to', 'another account than the one deleted');
  const { email, deleted, transferred, recipient } = await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(7101)`);
    const [target] = await tx.select().from(users).where(eq(users.id, id));
    if (!target) throw new KofnError('NOT_FOUND', 'User not found.');
    if (target.role === 'admin' && !target.disabled) {
      const [r] = await tx
        .select({ n: sql<number>`count(*)::int` })
        .from(users)
        .where(and(eq(users.role, 'admin'), eq(users.disabled, false)));
      if ((r?.n ?? 0) <= 1) throw new KofnError('LAST_ADMIN', 'This is the last enabled administrator; make another administrator first.');
    }
    let to: typeof users.$inferSelect | undefined;
    if (choice.files === 'transfer') {
      [to] = await tx.select().from(users).where(eq(users.id, choice.to)).for('update');
      // A disabled account may itself be waiting for deletion: files given to it would be lost with it.
      if (!to || to.disabled) throw new KofnError('NOT_FOUND', 'The account to receive the files was not found or is disabled.');
    }
    await tx.update(users).set({ disabled: true }).where(eq(users.id, id));
    await tx.delete(sessions).where(eq(sessions.userId, id));
    await tx.delete(apiTokens).where(eq(apiTokens.userId, id));
    // Links are the deleted account's decisions: they end with it, whichever way its files go.
    await tx.delete(shareLinks).where(eq(shareLinks.ownerId, id));
    let moved: Array<{ id: string; name: string }> = [];
    if (to) {
      const mine = await tx
        .select({ id: files.id, name: files.name })
        .from(files)
        .where(and(eq(files.ownerId, id), eq(files.status, 'available')))
        .orderBy(files.name, files.id);
      const taken = new Set(
        (
          await tx
            .select({ name: files.name })
            .from(files)
            .where(and(eq(files.ownerId, to.id), ne(files.status, 'deleted')))
        ).map((f) => f.name)
      );
      for (const f of mine) {
        const name = freeName(f.name, target.email, taken);
        taken.add(name);
        await tx.update(files).set({ ownerId: to.id, name }).where(eq(files.id, f.id));
      }
      if (mine.length > 0)
        await tx.delete(grants).where(
          and(
            eq(grants.userId, to.id),
            inArray(
              grants.fileId,
              mine.map((f) => f.id)
            )
          )
        );
      moved = mine;
    }
    // What is not given away is deleted: every file (delete), or the unfinished uploads (transfer).
    const doomed = await tx
      .update(files)
      .set({ status: 'deleting' })
      .where(and(eq(files.ownerId, id), inArray(files.status, ['available', 'reserved'])))
      .returning({ id: files.id });
    if (doomed.length > 0)
      await tx.delete(grants).where(
        inArray(
          grants.fileId,
          doomed.map((f) => f.id)
        )
      );
    for (const f of doomed) await enqueue(tx, 'delete-file', f.id, { fileId: f.id }, now);
    await enqueue(tx, 'delete-user', id, { userId: id }, now);
    return { email: target.email, deleted: doomed.length, transferred: moved.length, recipient: to };
  });
  const detail = recipient
    ? `${email}: deleted (${transferred} file(s) transferred to ${recipient.email}, ${deleted} unfinished upload(s) being deleted)`
    : `${email}: deleted (${deleted} file(s) being deleted)`;
  await record(db, { userId: admin.id, operation: 'user_changed', fileName: '', result: 'ok', detail });
  if (recipient && transferred > 0)
    await record(db, { userId: recipient.id, operation: 'user_changed', fileName: '', result: 'ok', detail: `${transferred} file(s) of ${email} transferred to you by an administrator` });
  return recipient ? { deleting: true, files: deleted, transferred, to: recipient.email } : { deleting: true, files: deleted };
}
