/**
 * Personal API tokens (issues #19 and #20): bearer credentials for scripts and the `kofn` CLI, made and
 * revoked by their owner on the Account page. Modelled on GitHub's fine-grained tokens: a recognisable
 * prefix (so secret scanners and people can tell what leaked), the secret shown once, only its SHA-256
 * stored (a database leak hands out nothing), an optional expiry, the last use recorded, and a public
 * handle, unrelated to the secret, to list and revoke by.
 *
 * A token acts as its owner within the scopes chosen when it was made (read, write, share, admin:
 * token-scopes.ts, checked on every request) and never manages credentials: it cannot make or list
 * tokens, change the password or end sessions, so a leaked token cannot lock its owner out or mint
 * itself successors.
 */
import { createHash } from 'node:crypto';
import { and, count, eq, gt, isNull, lt, or } from 'drizzle-orm';
import { KofnError, randomBytes, randomHex } from '@kofn/shared';
import type { Db } from './db/index.js';
import { present } from './db/present.js';
import { apiTokens, users } from './db/schema.js';
import type { User } from './auth.js';
import { parseScopes, type Scope } from './token-scopes.js';
import { record } from './history.js';

/** Every token starts with this, as GitHub's `ghp_` does: greppable, and never mistaken for a session. */
export const API_TOKEN_PREFIX = 'kofn_pat_';
/** 32 random bytes in base64url: 43 characters. */
const SECRET_PATTERN = /^kofn_pat_[A-Za-z0-9_-]{43}$/;
export const MAX_TOKENS_PER_USER = 20;
export const MAX_TOKEN_NAME = 64;
/** 10 years; longer asks for "never", which is explicit. */
export const MAX_TOKEN_DAYS = 3650;
/** The last-use time is written at most this often per token: a busy script must not write on every call. */
const LAST_USED_GRANULARITY_MS = 60_000;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const base64url = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

export interface ApiTokenView {
  handle: string;
  name: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  scopes: Scope[];
}

function view(r: typeof apiTokens.$inferSelect): ApiTokenView {
  return {
    handle: r.handle,
    name: r.name,
    createdAt: r.createdAt.toISOString(),
    expiresAt: r.expiresAt?.toISOString() ?? null,
    lastUsedAt: r.lastUsedAt?.toISOString() ?? null,
    scopes: r.scopes as Scope[]
  };
}

function tokenName(raw: unknown): string {
  const name = typeof raw === 'string' ? raw.trim() : '';
  // Control characters would garble the list and the history; the name is the owner's own label.
  if (name.length === 0 || name.length > MAX_TOKEN_NAME || /[\p{Cc}]/u.test(name)) {
    throw new KofnError('WRONG_VALUE', `A token needs a name of 1 to ${MAX_TOKEN_NAME} characters.`);
  }
  return name;
}

function expiryDays(raw: unknown): number | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > MAX_TOKEN_DAYS) {
    throw new KofnError('WRONG_VALUE', `A token expires after 1 to ${MAX_TOKEN_DAYS} days, or never (null).`);
  }
  return raw;
}

/** Makes a token for `user`; the secret is in the answer and nowhere else, ever. */
export async function createApiToken(db: Db, user: User, input: Record<string, unknown>, now = new Date()): Promise<ApiTokenView & { token: string }> {
  const name = tokenName(input.name);
  const days = expiryDays(input.expiresInDays);
  const scopes = parseScopes(input.scopes, user.role);
  const token = API_TOKEN_PREFIX + base64url(randomBytes(32));
  const handle = randomHex(16);
  const expiresAt = days === null ? null : new Date(now.getTime() + days * 86_400_000);
  const row = await db.transaction(async (tx) => {
    // Counted and inserted under the user's row lock, so parallel creations cannot pass the cap together.
    await tx.select({ id: users.id }).from(users).where(eq(users.id, user.id)).for('update');
    const [c] = await tx.select({ n: count() }).from(apiTokens).where(eq(apiTokens.userId, user.id));
    if ((c?.n ?? 0) >= MAX_TOKENS_PER_USER) throw new KofnError('CONFLICT', `You have ${MAX_TOKENS_PER_USER} API tokens already: revoke one first.`);
    const [r] = await tx
      .insert(apiTokens)
      .values({ id: sha256(token), handle, userId: user.id, name, createdAt: now, expiresAt, scopes })
      .returning();
    return present(r, 'the new API token');
  });
  await record(db, {
    userId: user.id,
    operation: 'token_create',
    fileName: name,
    result: 'ok',
    detail: `scopes ${scopes.join(' ')}; ${expiresAt ? `expires ${expiresAt.toISOString()}` : 'never expires'}`
  });
  return { ...view(row), token };
}

export async function listApiTokens(db: Db, userId: string): Promise<ApiTokenView[]> {
  const rows = await db.select().from(apiTokens).where(eq(apiTokens.userId, userId)).orderBy(apiTokens.createdAt, apiTokens.handle);
  return rows.map(view);
}

/** Revokes one of the user's own tokens at once; another user's handle is simply not found. */
export async function revokeApiToken(db: Db, user: User, handle: unknown): Promise<void> {
  if (typeof handle !== 'string' || !/^[0-9a-f]{32}$/.test(handle)) throw new KofnError('NOT_FOUND', 'No such API token.');
  const [gone] = await db
    .delete(apiTokens)
    .where(and(eq(apiTokens.handle, handle), eq(apiTokens.userId, user.id)))
    .returning({ name: apiTokens.name });
  if (!gone) throw new KofnError('NOT_FOUND', 'No such API token.');
  await record(db, { userId: user.id, operation: 'token_revoke', fileName: gone.name, result: 'ok' });
}

/**
 * The user a bearer secret belongs to, or undefined for anything else: malformed, unknown, revoked,
 * expired, or its account disabled. The lookup is by the secret's SHA-256 (an index seek on a hash, so
 * its timing says nothing useful about other tokens).
 */
export async function apiTokenUser(db: Db, secret: string, now = new Date()): Promise<(User & { scopes: Scope[] }) | undefined> {
  if (!SECRET_PATTERN.test(secret)) return undefined;
  const id = sha256(secret);
  const [row] = await db
    .select({ user: users, lastUsedAt: apiTokens.lastUsedAt, scopes: apiTokens.scopes })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.userId))
    .where(and(eq(apiTokens.id, id), or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, now))));
  if (!row || row.user.disabled) return undefined;
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_GRANULARITY_MS) {
    await db.update(apiTokens).set({ lastUsedAt: now }).where(eq(apiTokens.id, id));
  }
  const u = row.user;
  return { id: u.id, email: u.email, displayName: u.displayName, role: u.role, ...(u.mustChangePassword ? { mustChangePassword: true } : {}), scopes: row.scopes as Scope[] };
}

/** Maintenance: expired tokens are forgotten (they can never authenticate again). */
export async function purgeExpiredApiTokens(db: Db, now = new Date()): Promise<number> {
  const gone = await db.delete(apiTokens).where(lt(apiTokens.expiresAt, now)).returning({ id: apiTokens.id });
  return gone.length;
}
