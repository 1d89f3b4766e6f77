/**
 * TOTP second factor with recovery codes, the half-signed-in state between password and code, and the
 * administrators' second-factor policy (issue #19).
 *
 * - TOTP is RFC 6238 (SHA-1, 6 digits, 30 s steps: what every authenticator app reads from an otpauth://
 *   URI) through otplib. One step either side is accepted for clock drift (RFC 6238 §5.2 "one time step
 *   ... backward"; we also allow one forward). The last accepted step is stored and a code of that step or
 *   an earlier one is refused (SECOND_FACTOR_REPLAYED), decided by one conditional UPDATE so two parallel
 *   submissions of one code cannot both pass.
 * - The secret is made from the project's random module (20 bytes, RFC 4226 §4 R6 recommends 160 bits),
 *   sealed at rest (secret-box.ts), shown once while enrolling and never returned afterwards.
 * - Ten recovery codes of 80 random bits (16 base32 characters), shown once; only their SHA-256, salted
 *   with the user id, is stored; each signs in once.
 * - Sign-in with a password answers a challenge instead of a session when TOTP is on: a random token in an
 *   HttpOnly SameSite=Strict cookie (so bound to that browser), stored as its SHA-256, valid
 *   CHALLENGE_TTL_MS, ended after MAX_CHALLENGE_FAILURES wrong codes. Codes are also counted by the
 *   sign-in throttle (login-throttle.ts) under a key of their own per (account, address), so a stream of
 *   fresh challenges gets growing delays exactly like password guesses.
 * - `userHasSecondFactor` is the one place the policy asks "has this user a second factor?".
 */
import { createHash } from 'node:crypto';
import { verify as argonVerify } from '@node-rs/argon2';
import { and, eq, gt, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import { generateURI, verify as verifyTotp, ScureBase32Plugin } from 'otplib';
import QRCode from 'qrcode';
import { KofnError, randomBytes } from '@kofn/shared';
import { userHasPasskey } from './passkeys.js';
import type { Db } from './db/index.js';
import { recoveryCodes, secondFactorChallenges, settings, totpCredentials, users } from './db/schema.js';
import { toUser, type User } from './auth.js';
import { endOtherSessions } from './accounts.js';
import { loginFailed, loginSucceeded, takeAttempt } from './login-throttle.js';
import { record } from './history.js';
import { open, seal } from './secret-box.js';
import * as v from './validate.js';

export const ISSUER = 'kofn';
export const PERIOD_S = 30;
export const RECOVERY_CODE_COUNT = 10;
export const CHALLENGE_TTL_MS = 5 * 60_000;
export const MAX_CHALLENGE_FAILURES = 5;
export const CHALLENGE_COOKIE = 'kofn_2fa';
/** Longest code input read: a recovery code with separators is 19 characters; anything past 64 is not a code. */
const MAX_CODE_INPUT = 64;

const base32 = new ScureBase32Plugin();
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const recoveryId = (userId: string, code: string) => sha256(`kofn recovery code\n${userId}\n${code}`);
/** The throttle's account key for codes: a space cannot occur in an e-mail address (validate.ts). */
const codeThrottleKey = (email: string) => `second-factor ${email}`;

/** Has the user a second factor? The one check the administrators' policy uses (passkeys join here). */
export async function userHasSecondFactor(db: Db, userId: string): Promise<boolean> {
  // A passkey with user verification (passkeys.ts requires it) is itself a second factor: possession of
  // the authenticator plus the PIN or biometric that unlocks it (NIST SP 800-63B §5.1.8 multi-factor).
  return (await userHasTotp(db, userId)) || (await userHasPasskey(db, userId));
}

export async function userHasTotp(db: Db, userId: string): Promise<boolean> {
  const [row] = await db
    .select({ userId: totpCredentials.userId })
    .from(totpCredentials)
    .where(and(eq(totpCredentials.userId, userId), isNotNull(totpCredentials.enabledAt)));
  return row !== undefined;
}

export async function totpStatus(db: Db, userId: string): Promise<{ enabled: boolean; recoveryCodesLeft: number }> {
  const enabled = await userHasTotp(db, userId);
  const [r] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(recoveryCodes)
    .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
  return { enabled, recoveryCodesLeft: enabled ? (r?.n ?? 0) : 0 };
}

/**
 * Starts (or restarts) enrolment: a new secret, stored sealed and not yet in force. Returned once, as text,
 * as an otpauth:// URI and as a QR code (PNG data URL: the pages' CSP allows `data:` images).
 */
export async function beginTotpSetup(db: Db, key: Uint8Array, user: User) {
  if (await userHasTotp(db, user.id)) throw new KofnError('CONFLICT', 'Two-step sign-in is already on; turn it off first to set up a new authenticator.');
  const secret = base32.encode(randomBytes(20), { padding: false });
  const sealed = seal(key, secret, user.id);
  await db
    .insert(totpCredentials)
    .values({ userId: user.id, secret: sealed, enabledAt: null, lastTimeStep: null })
    .onConflictDoUpdate({ target: totpCredentials.userId, set: { secret: sealed, enabledAt: null, lastTimeStep: null, createdAt: new Date() } });
  const uri = generateURI({ issuer: ISSUER, label: user.email, secret, period: PERIOD_S });
  const qr = await QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2, width: 220 });
  return { secret, uri, qr };
}

/** A code as typed: digits for TOTP, base32 for a recovery code; spaces and hyphens ignored. */
function parseCode(raw: unknown): { kind: 'totp' | 'recovery'; code: string } {
  if (typeof raw !== 'string' || raw.length > MAX_CODE_INPUT) throw v.wrongValue('code', 'a 6-digit code or a recovery code');
  const code = raw.replace(/[\s-]/g, '').toUpperCase();
  if (/^\d{6}$/.test(code)) return { kind: 'totp', code };
  if (/^[A-Z2-7]{16}$/.test(code)) return { kind: 'recovery', code };
  throw v.wrongValue('code', 'a 6-digit code or a recovery code');
}

/** The time step a TOTP code matches at `now` (±1 step), or undefined. */
async function matchingStep(secret: string, code: string, now: Date): Promise<number | undefined> {
  const r = await verifyTotp({ secret, token: code, epoch: Math.floor(now.getTime() / 1000), period: PERIOD_S, epochTolerance: PERIOD_S });
  // The functional verify types TOTP and HOTP results as one union; a TOTP match carries its time step.
  return r.valid && 'timeStep' in r ? r.timeStep : undefined;
}

/** Accepts step `step` for the user unless that step or a later one was already used (atomic). */
async function spendStep(db: Db, userId: string, step: number): Promise<boolean> {
  const spent = await db
    .update(totpCredentials)
    .set({ lastTimeStep: step })
    .where(and(eq(totpCredentials.userId, userId), or(isNull(totpCredentials.lastTimeStep), lt(totpCredentials.lastTimeStep, step))))
    .returning({ userId: totpCredentials.userId });
  return spent.length > 0;
}

/**
 * Checks and spends a code of an enrolled user: a TOTP code (not of a step already used) or an unused
 * recovery code. Throws SECOND_FACTOR_INVALID / SECOND_FACTOR_REPLAYED. Not throttled here: callers are.
 */
async function spendCode(db: Db, key: Uint8Array, user: User, raw: unknown, now: Date): Promise<'totp' | 'recovery'> {
  const { kind, code } = parseCode(raw);
  const [row] = await db
    .select()
    .from(totpCredentials)
    .where(and(eq(totpCredentials.userId, user.id), isNotNull(totpCredentials.enabledAt)));
  if (!row) throw new KofnError('SECOND_FACTOR_INVALID', 'Two-step sign-in is not on for this account.');
  if (kind === 'totp') {
    const step = await matchingStep(open(key, row.secret, user.id), code, now);
    if (step === undefined) throw new KofnError('SECOND_FACTOR_INVALID', 'Wrong code.');
    if (!(await spendStep(db, user.id, step))) throw new KofnError('SECOND_FACTOR_REPLAYED', 'This code was already used; wait for the next one.');
    return 'totp';
  }
  const id = recoveryId(user.id, code);
  const spent = await db
    .update(recoveryCodes)
    .set({ usedAt: now })
    .where(and(eq(recoveryCodes.id, id), eq(recoveryCodes.userId, user.id), isNull(recoveryCodes.usedAt)))
    .returning({ id: recoveryCodes.id });
  if (spent.length === 0) {
    const [used] = await db
      .select({ id: recoveryCodes.id })
      .from(recoveryCodes)
      .where(and(eq(recoveryCodes.id, id), eq(recoveryCodes.userId, user.id)));
    if (used) throw new KofnError('SECOND_FACTOR_REPLAYED', 'This recovery code was already used.');
    throw new KofnError('SECOND_FACTOR_INVALID', 'Wrong code.');
  }
  const left = (await totpStatus(db, user.id)).recoveryCodesLeft;
  await record(db, { userId: user.id, operation: 'recovery_code_use', fileName: '', result: 'ok', detail: `${left} recovery code(s) left` });
  return 'recovery';
}

/** Ten fresh recovery codes replace the old ones; returned once, formatted XXXX-XXXX-XXXX-XXXX. */
async function newRecoveryCodes(db: Db, userId: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => base32.encode(randomBytes(10), { padding: false }));
  await db.transaction(async (tx) => {
    await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
    await tx.insert(recoveryCodes).values(codes.map((c) => ({ id: recoveryId(userId, c), userId })));
  });
  return codes.map((c) => c.match(/.{4}/g)!.join('-'));
}

/**
 * Ends enrolment: the first valid code of the new secret turns TOTP on and makes the recovery codes. Every
 * other session of the user ends, as on a password change (accounts.ts): a session opened by someone who
 * knew only the password must not outlive the second factor that now guards sign-in (issue #19).
 * `currentToken` is the session making the request, kept.
 */
export async function enableTotp(db: Db, key: Uint8Array, user: User, input: Record<string, unknown>, now = new Date(), currentToken?: string) {
  const { kind, code } = parseCode(input.code);
  const [row] = await db.select().from(totpCredentials).where(eq(totpCredentials.userId, user.id));
  if (row?.enabledAt) throw new KofnError('CONFLICT', 'Two-step sign-in is already on.');
  if (!row) throw new KofnError('CONFLICT', 'Start the set-up first: no authenticator secret is waiting.');
  const step = kind === 'totp' ? await matchingStep(open(key, row.secret, user.id), code, now) : undefined;
  if (step === undefined) throw new KofnError('SECOND_FACTOR_INVALID', 'Wrong code: check the authenticator app shows kofn and the device clock is right.');
  // Turned on only if still pending and still the same secret (a restarted set-up made another).
  const on = await db
    .update(totpCredentials)
    .set({ enabledAt: now, lastTimeStep: step })
    .where(and(eq(totpCredentials.userId, user.id), isNull(totpCredentials.enabledAt), eq(totpCredentials.secret, row.secret)))
    .returning({ userId: totpCredentials.userId });
  if (on.length === 0) throw new KofnError('CONFLICT', 'The set-up changed meanwhile; start it again.');
  const codes = await newRecoveryCodes(db, user.id);
  const otherSessionsEnded = await endOtherSessions(db, user.id, currentToken);
  await record(db, { userId: user.id, operation: 'totp_enable', fileName: '', result: 'ok' });
  return { enabled: true, recoveryCodes: codes, otherSessionsEnded };
}

/**
 * Proof that the signed-in person holds the account, for turning TOTP off or new recovery codes: the
 * current password or a current code, either counted by the sign-in throttle (a stolen session must not
 * become a guessing oracle).
 */
async function proveOwner(db: Db, key: Uint8Array, user: User, input: Record<string, unknown>, client: string, now: Date): Promise<void> {
  if (typeof input.password === 'string' && input.password.length > 0) {
    if (input.password.length > 1024) throw v.wrongValue('password', 'the current password');
    await takeAttempt(db, user.email, client, now);
    const [row] = await db.select().from(users).where(eq(users.id, user.id));
    if (!row?.passwordHash || !(await argonVerify(row.passwordHash, input.password))) {
      await loginFailed(db, user.email, now);
      throw new KofnError('INVALID_CREDENTIALS', 'The current password is wrong.');
    }
    await loginSucceeded(db, user.email, client);
    return;
  }
  if (input.code === undefined) throw v.wrongValue('password', 'the current password or a current code');
  await throttledCode(db, key, user, input.code, client, now);
}

/** A code counted by the throttle under the account's code key, before it is checked. */
async function throttledCode(db: Db, key: Uint8Array, user: User, raw: unknown, client: string, now: Date): Promise<'totp' | 'recovery'> {
  parseCode(raw);
  const throttleKey = codeThrottleKey(user.email);
  await takeAttempt(db, throttleKey, client, now);
  try {
    const kind = await spendCode(db, key, user, raw, now);
    await loginSucceeded(db, throttleKey, client);
    return kind;
  } catch (err) {
    await loginFailed(db, throttleKey, now);
    throw err;
  }
}

export async function disableTotp(db: Db, key: Uint8Array, user: User, input: Record<string, unknown>, client: string, now = new Date()) {
  if (!(await userHasTotp(db, user.id))) throw new KofnError('CONFLICT', 'Two-step sign-in is not on.');
  await proveOwner(db, key, user, input, client, now);
  await db.transaction(async (tx) => {
    await tx.delete(totpCredentials).where(eq(totpCredentials.userId, user.id));
    await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, user.id));
  });
  await record(db, { userId: user.id, operation: 'totp_disable', fileName: '', result: 'ok' });
  return { enabled: false };
}

export async function regenerateRecoveryCodes(db: Db, key: Uint8Array, user: User, input: Record<string, unknown>, client: string, now = new Date()) {
  if (!(await userHasTotp(db, user.id))) throw new KofnError('CONFLICT', 'Two-step sign-in is not on.');
  await proveOwner(db, key, user, input, client, now);
  const codes = await newRecoveryCodes(db, user.id);
  await record(db, { userId: user.id, operation: 'recovery_codes_new', fileName: '', result: 'ok' });
  return { recoveryCodes: codes };
}

/**
 * An administrator removes a user's TOTP and recovery codes (lost phone and codes): the user then signs in
 * with the password alone and may set up a new authenticator. Recorded in the user's history.
 */
export async function resetSecondFactor(db: Db, admin: User, rawId: unknown) {
  if (typeof rawId !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(rawId)) throw new KofnError('NOT_FOUND', 'User not found.');
  const [target] = await db.select({ id: users.id }).from(users).where(eq(users.id, rawId));
  if (!target) throw new KofnError('NOT_FOUND', 'User not found.');
  const removed = await db.transaction(async (tx) => {
    await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, target.id));
    await tx.delete(secondFactorChallenges).where(eq(secondFactorChallenges.userId, target.id));
    return tx.delete(totpCredentials).where(eq(totpCredentials.userId, target.id)).returning({ enabledAt: totpCredentials.enabledAt });
  });
  const wasOn = removed.some((r) => r.enabledAt !== null);
  if (wasOn) await record(db, { userId: target.id, operation: 'totp_disable', fileName: '', result: 'ok', detail: `removed by administrator ${admin.email}` });
  return { removed: wasOn };
}

/** After a correct password: the half-signed-in state. The token goes to the browser's cookie only. */
export async function startChallenge(db: Db, user: User, now = new Date()): Promise<{ token: string; expiresAt: Date }> {
  const token = Buffer.from(randomBytes(32)).toString('base64url');
  const expiresAt = new Date(now.getTime() + CHALLENGE_TTL_MS);
  // The user's expired challenges go now; maintenance sweeps the rest (purgeExpiredChallenges).
  await db.delete(secondFactorChallenges).where(and(eq(secondFactorChallenges.userId, user.id), lt(secondFactorChallenges.expiresAt, now)));
  await db.insert(secondFactorChallenges).values({ id: sha256(token), userId: user.id, createdAt: now, expiresAt });
  return { token, expiresAt };
}

const EXPIRED = () => new KofnError('SECOND_FACTOR_EXPIRED', 'The sign-in expired; enter your e-mail and password again.');

/**
 * The second step: the challenge cookie's token and a code. On success the challenge is spent (at most one
 * session per challenge) and the user is returned for a session; a wrong code counts against the challenge
 * and the throttle.
 */
export async function completeChallenge(
  db: Db,
  key: Uint8Array,
  token: string | undefined,
  input: Record<string, unknown>,
  client: string,
  now = new Date()
): Promise<{ user: User; method: 'totp' | 'recovery' }> {
  if (!token || token.length > 100) throw EXPIRED();
  const id = sha256(token);
  const [row] = await db
    .select({ user: users, failures: secondFactorChallenges.failures })
    .from(secondFactorChallenges)
    .innerJoin(users, eq(users.id, secondFactorChallenges.userId))
    .where(and(eq(secondFactorChallenges.id, id), gt(secondFactorChallenges.expiresAt, now)));
  if (!row || row.user.disabled) throw EXPIRED();
  const user = toUser(row.user);
  let method: 'totp' | 'recovery';
  try {
    method = await throttledCode(db, key, user, input.code, client, now);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'SECOND_FACTOR_INVALID' || code === 'SECOND_FACTOR_REPLAYED' || code === 'WRONG_VALUE') {
      const [c] = await db
        .update(secondFactorChallenges)
        .set({ failures: sql`${secondFactorChallenges.failures} + 1` })
        .where(eq(secondFactorChallenges.id, id))
        .returning({ failures: secondFactorChallenges.failures });
      if (!c || c.failures >= MAX_CHALLENGE_FAILURES) {
        await db.delete(secondFactorChallenges).where(eq(secondFactorChallenges.id, id));
        throw new KofnError('SECOND_FACTOR_EXPIRED', 'Too many wrong codes; enter your e-mail and password again.');
      }
    }
    throw err;
  }
  const spent = await db.delete(secondFactorChallenges).where(eq(secondFactorChallenges.id, id)).returning({ id: secondFactorChallenges.id });
  if (spent.length === 0) throw EXPIRED();
  return { user, method };
}

export async function purgeExpiredChallenges(db: Db, now = new Date()): Promise<void> {
  await db.delete(secondFactorChallenges).where(lt(secondFactorChallenges.expiresAt, now));
}

// --- The administrators' policy -------------------------------------------------------------------------

const POLICY_KEY = 'security-policy';

export interface SecurityPolicy {
  requireAdminSecondFactor: boolean;
}

export async function securityPolicy(db: Db): Promise<SecurityPolicy> {
  const [row] = await db.select().from(settings).where(eq(settings.key, POLICY_KEY));
  const value = row?.value as Partial<SecurityPolicy> | undefined;
  return { requireAdminSecondFactor: value?.requireAdminSecondFactor === true };
}

/** An administrator changes the policy; turning the requirement on needs a second factor of one's own. */
export async function setSecurityPolicy(db: Db, admin: User, input: Record<string, unknown>): Promise<SecurityPolicy> {
  if (typeof input.requireAdminSecondFactor !== 'boolean') throw v.wrongValue('requireAdminSecondFactor', 'true, false');
  const next: SecurityPolicy = { requireAdminSecondFactor: input.requireAdminSecondFactor };
  if (next.requireAdminSecondFactor && !(await userHasSecondFactor(db, admin.id))) {
    throw new KofnError('SECOND_FACTOR_REQUIRED', 'Set up a second factor for your own account first (Account page).');
  }
  await db
    .insert(settings)
    .values({ key: POLICY_KEY, value: next })
    .onConflictDoUpdate({ target: settings.key, set: { value: next, updatedAt: new Date() } });
  await record(db, {
    userId: admin.id,
    operation: 'security_policy',
    fileName: '',
    result: 'ok',
    detail: `second factor for administrators ${next.requireAdminSecondFactor ? 'required' : 'optional'}`
  });
  return next;
}

/** True when `user` is an administrator the policy holds back until they set up a second factor. */
export async function mustSetUpSecondFactor(db: Db, user: User): Promise<boolean> {
  if (user.role !== 'admin') return false;
  if (!(await securityPolicy(db)).requireAdminSecondFactor) return false;
  return !(await userHasSecondFactor(db, user.id));
}
