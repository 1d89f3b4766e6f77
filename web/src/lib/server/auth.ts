/**
 * Accounts and sessions: argon2id passwords (@node-rs/argon2 defaults: m = 19 MiB, t = 2, p = 1, the
 * OWASP minimum), random session tokens stored only as their SHA-256, a CSRF token per session, and login
 * throttling in the database so every replica counts the same attempts (login-throttle.ts).
 */
import { createHash } from 'node:crypto';
import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2';
import { and, eq, gt, lt, sql } from 'drizzle-orm';
import { KofnError, randomBase64url, randomHex, randomUuid } from '@kofn/shared';
import type { Db } from './db/index.js';
import { sessions, totpCredentials, users } from './db/schema.js';
import { loginFailed, loginSucceeded, takeAttempt } from './login-throttle.js';
import { claimPendingGrants } from './grants.js';

export interface User {
  id: string;
  email: string;
  displayName: string;
  role: 'admin' | 'user';
  /** An administrator set the password: only changing it is allowed (http.ts route()). */
  mustChangePassword?: boolean;
}

export const SESSION_COOKIE = 'kofn_session';
export const SESSION_TTL_MS = 7 * 24 * 3600 * 1000;
// A fixed hash to verify against when the e-mail is unknown, so timing does not reveal which accounts exist.
let dummyHash: Promise<string> | undefined;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
/** The stored id of a session: the SHA-256 of its cookie value. */
export const sessionIdOf = (token: string): string => sha256(token);

/** The session-facing view of a user row (passkeys.ts signs in with it too). */
export function toUser(row: typeof users.$inferSelect): User {
  return { id: row.id, email: row.email, displayName: row.displayName, role: row.role, ...(row.mustChangePassword ? { mustChangePassword: true } : {}) };
}

export async function countUsers(db: Db): Promise<number> {
  const [r] = await db.select({ n: sql<number>`count(*)::int` }).from(users);
  return r?.n ?? 0;
}

export async function createUser(
  db: Db,
  input: { email: string; displayName: string; password?: string | undefined; role: 'admin' | 'user'; mustChangePassword?: boolean },
  maxUsers: number,
  /** Make the account an admin when it is the very first one (trusted-proxy mode), decided under the lock. */
  opts: { adminIfFirst?: boolean } = {}
): Promise<User> {
  // Hashed before the lock: argon2id takes tens of milliseconds and must not hold up other creations.
  const passwordHash = input.password === undefined ? null : await argonHash(input.password);
  // Count and insert under one transaction-scoped lock (issue #13 item 8c: checked apart, 65 parallel
  // creations against a cap of 60 left 63 to 65 users). 7101 is the setup lock too, so a first-run setup
  // and creations queue behind each other; taking it again inside setupAdmin's transaction is immediate.
  const rows = await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(7101)`);
    const count = await countUsers(tx);
    if (count >= maxUsers) {
      console.warn(`kofn: licence limit reached: ${maxUsers} users; account for ${input.email} not created.`);
      throw new KofnError('LICENSE_LIMIT', `The licence allows ${maxUsers} users.`);
    }
    const role = opts.adminIfFirst && count === 0 ? 'admin' : input.role;
    return tx
      .insert(users)
      .values({ id: randomUuid(), email: input.email, displayName: input.displayName, passwordHash, role, mustChangePassword: input.mustChangePassword === true })
      .onConflictDoNothing()
      .returning();
  });
  if (!rows[0]) throw new KofnError('EMAIL_IN_USE', 'This e-mail address already has an account.');
  // Files shared with this e-mail before the account existed become readable now (grants.ts).
  await claimPendingGrants(db, rows[0]);
  return toUser(rows[0]);
}

/** First-run setup: creates the admin, only while there is no user at all. */
export async function setupAdmin(db: Db, input: { email: string; displayName: string; password: string }, maxUsers: number): Promise<User> {
  return db.transaction(async (tx) => {
    // Serialise concurrent setups; the loser sees a user and stops.
    await tx.execute(sql`select pg_advisory_xact_lock(7101)`);
    if ((await countUsers(tx)) > 0) throw new KofnError('SETUP_DONE', 'kofn is already set up.');
    return createUser(tx, { ...input, role: 'admin' }, maxUsers);
  });
}

export async function findUserByEmail(db: Db, email: string): Promise<User | undefined> {
  const [row] = await db.select().from(users).where(eq(users.email, email));
  return row && !row.disabled ? toUser(row) : undefined;
}

/** Every account for the administrators' list; `twoStep` says whether TOTP is on (so "Remove two-step sign-in" is offered only then). */
export async function listUsers(db: Db): Promise<Array<User & { disabled: boolean; createdAt: string; twoStep: boolean }>> {
  const rows = await db.select({ u: users, totpOn: totpCredentials.enabledAt }).from(users).leftJoin(totpCredentials, eq(totpCredentials.userId, users.id)).orderBy(users.createdAt);
  return rows.map(({ u, totpOn }) => ({ ...toUser(u), disabled: u.disabled, createdAt: u.createdAt.toISOString(), twoStep: totpOn !== null }));
}

export interface NewSession {
  token: string;
  csrfToken: string;
  user: User;
  expiresAt: Date;
}

export async function createSession(db: Db, user: User, now = new Date()): Promise<NewSession> {
  const token = randomBase64url(32);
  const csrfToken = randomBase64url(32);
  const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
  await db.insert(sessions).values({ id: sha256(token), userId: user.id, csrfToken, createdAt: now, expiresAt });
  return { token, csrfToken, user, expiresAt };
}

/**
 * Checks a password, throttled per (account, client address) before it is checked (login-throttle.ts).
 * The sign-in route then asks for a second factor when the account has one (second-factor.ts).
 */
export async function verifyPassword(db: Db, emailAddress: string, password: string, client: string, now = new Date()): Promise<User> {
  await takeAttempt(db, emailAddress, client, now);
  const [row] = await db.select().from(users).where(eq(users.email, emailAddress));
  dummyHash ??= argonHash(randomHex(16));
  const ok = row?.passwordHash ? await argonVerify(row.passwordHash, password) : (await argonVerify(await dummyHash, password), false);
  if (!row || !ok || row.disabled) {
    await loginFailed(db, emailAddress, now);
    throw new KofnError('INVALID_CREDENTIALS', 'Wrong e-mail or password.');
  }
  await loginSucceeded(db, emailAddress, client);
  return toUser(row);
}

/** Password-only sign-in (accounts without a second factor; tests). */
export async function login(db: Db, emailAddress: string, password: string, client: string, now = new Date()): Promise<NewSession> {
  return createSession(db, await verifyPassword(db, emailAddress, password, client, now), now);
}

export async function sessionUser(db: Db, token: string | undefined, now = new Date()): Promise<{ user: User; csrfToken: string } | undefined> {
  if (!token || token.length > 100) return undefined;
  const [row] = await db
    .select({ user: users, csrfToken: sessions.csrfToken })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.id, sha256(token)), gt(sessions.expiresAt, now)));
  if (!row || row.user.disabled) return undefined;
  return { user: toUser(row.user), csrfToken: row.csrfToken };
}

export async function logout(db: Db, token: string | undefined): Promise<void> {
  if (token) await db.delete(sessions).where(eq(sessions.id, sha256(token)));
}

export async function purgeExpiredSessions(db: Db, now = new Date()): Promise<void> {
  await db.delete(sessions).where(lt(sessions.expiresAt, now));
}

/** Trusted reverse-proxy mode (Authelia, oauth2-proxy): the proxy's Remote-Email names the user. */
export async function proxyUser(db: Db, remoteEmail: string, remoteName: string | undefined, maxUsers: number): Promise<User> {
  const existing = await findUserByEmail(db, remoteEmail);
  if (existing) return existing;
  // The first account is the admin; counted under createUser's lock, so parallel first requests make one.
  return createUser(db, { email: remoteEmail, displayName: remoteName === undefined || remoteName === '' ? remoteEmail : remoteName, role: 'user' }, maxUsers, { adminIfFirst: true });
}
