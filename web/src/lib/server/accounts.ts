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
import { apiTokens, files, grants, sessions, users } from './db/schema.js';
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

function userId(raw: unknown): string {
  if (typeof raw !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(raw)) throw new KofnError('NOT_FOUND', 'User not found.');
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

/**
 * An administrator deletes an account (issue #19). At once: the account is disabled, its sessions and API
 * tokens end, and every file it owns starts deleting on every relay (the `delete-file` jobs, as a removal
 * does). The account row itself goes in the `delete-user` job once none of its files is left on any relay
 * (maintenance.ts), taking its history, grants and links with it; until then the e-mail stays taken, so
 * nobody can sign up in its place and inherit what is left. Not oneself, and never the last enabled
 * administrator.
 */
export async function deleteUser(db: Db, admin: User, rawId: unknown, now = new Date()) {
  const id = userId(rawId);
  if (id === admin.id) throw new KofnError('FORBIDDEN', 'You cannot delete your own account; another administrator can.');
  const { email, fileCount } = await db.transaction(async (tx) => {
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
    await tx.update(users).set({ disabled: true }).where(eq(users.id, id));
    await tx.delete(sessions).where(eq(sessions.userId, id));
    await tx.delete(apiTokens).where(eq(apiTokens.userId, id));
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
    return { email: target.email, fileCount: doomed.length };
  });
  await record(db, { userId: admin.id, operation: 'user_changed', fileName: '', result: 'ok', detail: `${email}: deleted (${fileCount} file(s) being deleted)` });
  return { deleting: true, files: fileCount };
}
