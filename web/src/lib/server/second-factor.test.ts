/**
 * TOTP second factor (issue #19) on PGlite and PostgreSQL: enrolment needs a current code and stores the
 * secret sealed; recovery codes are shown once, stored as hashes and spent once; the half-signed-in
 * challenge is bound to its token, short-lived, ended after a few wrong codes and throttled like
 * passwords; a code cannot be replayed within its window (even in parallel); turning off needs proof;
 * the administrators' policy; history records each step. Codes are computed with otplib, as an
 * authenticator app would from the secret shown.
 */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { generate } from 'otplib';
import { randomBytes } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import { errorCode as code } from './testing/file-services.js';
import type { Database } from './db/index.js';
import { history, recoveryCodes, secondFactorChallenges, totpCredentials } from './db/schema.js';
import { createSession, createUser, sessionUser, type User } from './auth.js';
import { PAIR_FREE_ATTEMPTS } from './login-throttle.js';
import {
  CHALLENGE_TTL_MS,
  MAX_CHALLENGE_FAILURES,
  beginTotpSetup,
  completeChallenge,
  disableTotp,
  enableTotp,
  mustSetUpSecondFactor,
  purgeExpiredChallenges,
  regenerateRecoveryCodes,
  resetSecondFactor,
  securityPolicy,
  setSecurityPolicy,
  startChallenge,
  totpStatus,
  userHasSecondFactor
} from './second-factor.js';
import { loadSecretKey, open as openSealed, seal } from './secret-box.js';

const T0 = new Date('2030-03-01T10:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const totp = (secret: string, when: Date) => generate({ secret, epoch: Math.floor(when.getTime() / 1000), period: 30 });

describe('secret box', () => {
  it('opens what it sealed, for its owner only, and refuses any changed byte', () => {
    const key = randomBytes(32);
    const sealed = seal(key, 'JBSWY3DPEHPK3PXP', 'owner-1');
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(openSealed(key, sealed, 'owner-1')).toBe('JBSWY3DPEHPK3PXP');
    expect(() => openSealed(key, sealed, 'owner-2')).toThrow(/does not open/);
    expect(() => openSealed(randomBytes(32), sealed, 'owner-1')).toThrow(/does not open/);
    const flipped = `${sealed.slice(0, -2)}${sealed.at(-2) === 'A' ? 'B' : 'A'}${sealed.slice(-1)}`;
    expect(() => openSealed(key, flipped, 'owner-1')).toThrow(/does not open/);
    expect(() => openSealed(key, 'v2.abc', 'owner-1')).toThrow(/malformed/);
  });

  it('makes the key file once (mode 0600) and reuses it; KOFN_SECRET_KEY wins and must be 32 bytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kofn-key-'));
    const k1 = loadSecretKey(dir, {});
    expect(k1.length).toBe(32);
    expect(statSync(join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
    expect(Buffer.from(loadSecretKey(dir, {}))).toEqual(Buffer.from(k1));
    expect(readFileSync(join(dir, 'secret.key'), 'utf8').trim()).toBe(Buffer.from(k1).toString('base64url'));
    const env = Buffer.from(randomBytes(32)).toString('base64url');
    expect(Buffer.from(loadSecretKey(dir, { KOFN_SECRET_KEY: env })).toString('base64url')).toBe(env);
    expect(() => loadSecretKey(dir, { KOFN_SECRET_KEY: 'short' })).toThrow(/32 bytes/);
  });
});

describeDatabases('TOTP second factor on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let alice: User;
  let admin: User;
  let admin2: User;
  const key = randomBytes(32);
  let secret = '';
  let recovery: string[] = [];

  beforeAll(async () => {
    database = await open();
    alice = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'alice password 1', role: 'user' }, 100);
    admin = await createUser(database.db, { email: 'root@x.test', displayName: 'Root', password: 'root password 1', role: 'admin' }, 100);
    admin2 = await createUser(database.db, { email: 'root2@x.test', displayName: 'Root 2', password: 'root password 2', role: 'admin' }, 100);
  });
  afterAll(() => database.drop());

  const ops = async (userId: string) => (await database.db.select().from(history).where(eq(history.userId, userId))).map((h) => h.operation);

  it('enrolment: the secret is shown once (text, URI, QR), stored sealed, and only a current code turns it on', async () => {
    expect(await totpStatus(database.db, alice.id)).toEqual({ enabled: false, recoveryCodesLeft: 0 });
    const first = await beginTotpSetup(database.db, key, alice);
    // A restarted set-up replaces the waiting secret; the first one no longer enables.
    const s = await beginTotpSetup(database.db, key, alice);
    expect(s.secret).not.toBe(first.secret);
    secret = s.secret;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(s.uri).toBe(`otpauth://totp/kofn:alice%40x.test?secret=${secret}&issuer=kofn`);
    expect(s.qr).toMatch(/^data:image\/png;base64,/);
    const [row] = await database.db.select().from(totpCredentials).where(eq(totpCredentials.userId, alice.id));
    expect(row!.enabledAt).toBeNull();
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(openSealed(key, row!.secret, alice.id)).toBe(secret);
    expect(await userHasSecondFactor(database.db, alice.id)).toBe(false);

    // Malformed, oversized, wrong, and the first secret's code: refused; nothing turned on.
    expect(await code(enableTotp(database.db, key, alice, { code: 12345 }, T0))).toBe('WRONG_VALUE');
    expect(await code(enableTotp(database.db, key, alice, { code: '12345' }, T0))).toBe('WRONG_VALUE');
    expect(await code(enableTotp(database.db, key, alice, { code: '1'.repeat(65) }, T0))).toBe('WRONG_VALUE');
    expect(await code(enableTotp(database.db, key, alice, {}, T0))).toBe('WRONG_VALUE');
    const wrong = (Number(await totp(secret, T0)) + 1) % 1_000_000;
    expect(await code(enableTotp(database.db, key, alice, { code: String(wrong).padStart(6, '0') }, T0))).toBe('SECOND_FACTOR_INVALID');
    if ((await totp(first.secret, T0)) !== (await totp(secret, T0))) {
      expect(await code(enableTotp(database.db, key, alice, { code: await totp(first.secret, T0) }, T0))).toBe('SECOND_FACTOR_INVALID');
    }
    expect(await userHasSecondFactor(database.db, alice.id)).toBe(false);

    // Alice is signed in on three devices; the one turning TOTP on stays signed in, the others end (as on a
    // password change): a session opened with the password alone must not outlive the new second factor.
    const here = await createSession(database.db, alice);
    const laptop = await createSession(database.db, alice);
    const phone = await createSession(database.db, alice);
    const bobs = await createSession(database.db, admin);
    const on = await enableTotp(database.db, key, alice, { code: await totp(secret, T0) }, T0, here.token);
    expect(on.enabled).toBe(true);
    expect(on.otherSessionsEnded).toBe(2);
    expect((await sessionUser(database.db, here.token))?.user.id).toBe(alice.id);
    expect(await sessionUser(database.db, laptop.token)).toBeUndefined();
    expect(await sessionUser(database.db, phone.token)).toBeUndefined();
    // Another user's session is not touched.
    expect((await sessionUser(database.db, bobs.token))?.user.id).toBe(admin.id);
    recovery = on.recoveryCodes;
    expect(recovery).toHaveLength(10);
    for (const c of recovery) expect(c).toMatch(/^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$/);
    expect(new Set(recovery).size).toBe(10);
    const stored = await database.db.select().from(recoveryCodes).where(eq(recoveryCodes.userId, alice.id));
    expect(stored).toHaveLength(10);
    for (const c of recovery) expect(JSON.stringify(stored)).not.toContain(c.replaceAll('-', ''));
    expect(await totpStatus(database.db, alice.id)).toEqual({ enabled: true, recoveryCodesLeft: 10 });
    expect(await userHasSecondFactor(database.db, alice.id)).toBe(true);
    expect(await code(beginTotpSetup(database.db, key, alice))).toBe('CONFLICT');
    expect(await code(enableTotp(database.db, key, alice, { code: await totp(secret, at(30)) }, at(30)))).toBe('CONFLICT');
    expect(await ops(alice.id)).toContain('totp_enable');
  });

  it('sign-in: a challenge needs its own token and a current code; a used code is refused within its window', async () => {
    // The code that enabled (step of T0) is spent already: replaying it, or an older one, is refused.
    let ch = await startChallenge(database.db, alice, at(10));
    expect(await code(completeChallenge(database.db, key, ch.token, { code: await totp(secret, T0) }, '10.0.0.1', at(10)))).toBe('SECOND_FACTOR_REPLAYED');
    expect(await code(completeChallenge(database.db, key, ch.token, { code: await totp(secret, at(-30)) }, '10.0.0.1', at(10)))).toBe('SECOND_FACTOR_REPLAYED');
    // Another token, none, an oversized one: no sign-in.
    expect(await code(completeChallenge(database.db, key, 'x'.repeat(43), { code: await totp(secret, at(30)) }, '10.0.0.1', at(30)))).toBe('SECOND_FACTOR_EXPIRED');
    expect(await code(completeChallenge(database.db, key, undefined, { code: await totp(secret, at(30)) }, '10.0.0.1', at(30)))).toBe('SECOND_FACTOR_EXPIRED');
    expect(await code(completeChallenge(database.db, key, 'x'.repeat(101), { code: await totp(secret, at(30)) }, '10.0.0.1', at(30)))).toBe('SECOND_FACTOR_EXPIRED');
    // The next step's code signs in (spaces are ignored), once: the challenge is spent.
    const next = await totp(secret, at(30));
    const done = await completeChallenge(database.db, key, ch.token, { code: `${next.slice(0, 3)} ${next.slice(3)}` }, '10.0.0.1', at(30));
    expect(done).toEqual({ user: alice, method: 'totp' });
    expect(await code(completeChallenge(database.db, key, ch.token, { code: await totp(secret, at(60)) }, '10.0.0.1', at(60)))).toBe('SECOND_FACTOR_EXPIRED');
    // The same code again, on a fresh challenge in the same window: replayed.
    ch = await startChallenge(database.db, alice, at(35));
    expect(await code(completeChallenge(database.db, key, ch.token, { code: next }, '10.0.0.1', at(35)))).toBe('SECOND_FACTOR_REPLAYED');

    // Two browsers send one fresh code at once: exactly one signs in.
    const c1 = await startChallenge(database.db, alice, at(90));
    const c2 = await startChallenge(database.db, alice, at(90));
    const fresh = await totp(secret, at(90));
    const results = await Promise.all([c1, c2].map((c) => code(completeChallenge(database.db, key, c.token, { code: fresh }, '10.0.0.2', at(90)))));
    expect(results.sort()).toEqual(['SECOND_FACTOR_REPLAYED', undefined].sort());
  });

  it('a challenge is short-lived and purged; only its SHA-256 is stored', async () => {
    const ch = await startChallenge(database.db, alice, at(200));
    expect(ch.expiresAt.getTime()).toBe(at(200).getTime() + CHALLENGE_TTL_MS);
    const rows = await database.db.select().from(secondFactorChallenges);
    expect(JSON.stringify(rows)).not.toContain(ch.token);
    const late = new Date(ch.expiresAt.getTime());
    expect(await code(completeChallenge(database.db, key, ch.token, { code: await totp(secret, late) }, '10.0.0.3', late))).toBe('SECOND_FACTOR_EXPIRED');
    await purgeExpiredChallenges(database.db, new Date(late.getTime() + 1));
    expect(await database.db.select().from(secondFactorChallenges).where(eq(secondFactorChallenges.userId, alice.id))).toEqual([]);
  });

  it('a recovery code signs in once, in any case and with or without hyphens; history records its use', async () => {
    const ch = await startChallenge(database.db, alice, at(400));
    const used = recovery[0]!;
    const done = await completeChallenge(database.db, key, ch.token, { code: used.toLowerCase().replaceAll('-', ' ') }, '10.0.0.4', at(400));
    expect(done.method).toBe('recovery');
    expect((await totpStatus(database.db, alice.id)).recoveryCodesLeft).toBe(9);
    const again = await startChallenge(database.db, alice, at(401));
    expect(await code(completeChallenge(database.db, key, again.token, { code: used }, '10.0.0.4', at(401)))).toBe('SECOND_FACTOR_REPLAYED');
    expect(await code(completeChallenge(database.db, key, again.token, { code: 'AAAA-AAAA-AAAA-AAAA' }, '10.0.0.4', at(401)))).toBe('SECOND_FACTOR_INVALID');
    expect(await ops(alice.id)).toContain('recovery_code_use');
    const [h] = await database.db.select().from(history).where(eq(history.operation, 'recovery_code_use'));
    expect(h!.detail).toBe('9 recovery code(s) left');
    expect(JSON.stringify(await database.db.select().from(history))).not.toContain(used.replaceAll('-', ''));
  });

  it('guessing: a challenge ends after a few wrong codes; the throttle then delays even the right code from that address', async () => {
    const ip = '10.9.9.9';
    const now = at(1000);
    const ch = await startChallenge(database.db, alice, now);
    const right = await totp(secret, now);
    const wrong = String((Number(right) + 7) % 1_000_000).padStart(6, '0');
    const seen: Array<string | undefined> = [];
    for (let i = 0; i < MAX_CHALLENGE_FAILURES; i++) seen.push(await code(completeChallenge(database.db, key, ch.token, { code: wrong }, ip, now)));
    expect(seen).toEqual([...Array<string>(MAX_CHALLENGE_FAILURES - 1).fill('SECOND_FACTOR_INVALID'), 'SECOND_FACTOR_EXPIRED']);
    expect(MAX_CHALLENGE_FAILURES).toBe(PAIR_FREE_ATTEMPTS);
    // A fresh challenge (the password was right again): the right code is refused unchecked until the delay passes.
    const ch2 = await startChallenge(database.db, alice, now);
    const refused = await completeChallenge(database.db, key, ch2.token, { code: right }, ip, now).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 1 });
    // Another address is not slowed by this one; and after the delay the right code passes here too.
    const ch3 = await startChallenge(database.db, alice, now);
    expect((await completeChallenge(database.db, key, ch3.token, { code: right }, '10.9.9.10', now)).user.id).toBe(alice.id);
    const later = at(1031);
    expect((await completeChallenge(database.db, key, ch2.token, { code: await totp(secret, later) }, ip, later)).user.id).toBe(alice.id);
  });

  it('new recovery codes and turning off need the password or a current code; old codes stop working', async () => {
    expect(await code(regenerateRecoveryCodes(database.db, key, alice, {}, '10.1.1.1', at(2000)))).toBe('WRONG_VALUE');
    expect(await code(regenerateRecoveryCodes(database.db, key, alice, { password: 'x'.repeat(1025) }, '10.1.1.1', at(2000)))).toBe('WRONG_VALUE');
    expect(await code(regenerateRecoveryCodes(database.db, key, alice, { password: 'not it at all' }, '10.1.1.1', at(2000)))).toBe('INVALID_CREDENTIALS');
    const fresh = (await regenerateRecoveryCodes(database.db, key, alice, { password: 'alice password 1' }, '10.1.1.1', at(2000))).recoveryCodes;
    expect(fresh).toHaveLength(10);
    expect(await totpStatus(database.db, alice.id)).toEqual({ enabled: true, recoveryCodesLeft: 10 });
    const ch = await startChallenge(database.db, alice, at(2001));
    expect(await code(completeChallenge(database.db, key, ch.token, { code: recovery[1]! }, '10.1.1.1', at(2001)))).toBe('SECOND_FACTOR_INVALID');
    recovery = fresh;
    expect(await ops(alice.id)).toContain('recovery_codes_new');

    const wrong = String((Number(await totp(secret, at(2100))) + 3) % 1_000_000).padStart(6, '0');
    expect(await code(disableTotp(database.db, key, alice, { code: wrong }, '10.1.1.2', at(2100)))).toBe('SECOND_FACTOR_INVALID');
    expect(await userHasSecondFactor(database.db, alice.id)).toBe(true);
    expect(await disableTotp(database.db, key, alice, { code: await totp(secret, at(2100)) }, '10.1.1.2', at(2100))).toEqual({ enabled: false });
    expect(await userHasSecondFactor(database.db, alice.id)).toBe(false);
    expect(await database.db.select().from(recoveryCodes).where(eq(recoveryCodes.userId, alice.id))).toEqual([]);
    expect(await database.db.select().from(totpCredentials).where(eq(totpCredentials.userId, alice.id))).toEqual([]);
    expect(await code(disableTotp(database.db, key, alice, { password: 'alice password 1' }, '10.1.1.2', at(2100)))).toBe('CONFLICT');
    expect(await code(regenerateRecoveryCodes(database.db, key, alice, { password: 'alice password 1' }, '10.1.1.2', at(2100)))).toBe('CONFLICT');
    expect(await ops(alice.id)).toContain('totp_disable');
  });

  it('policy: off by default; an admin turns it on only with a second factor; admins without one are held back, users never', async () => {
    expect(await securityPolicy(database.db)).toEqual({ requireAdminSecondFactor: false });
    expect(await mustSetUpSecondFactor(database.db, admin)).toBe(false);
    expect(await code(setSecurityPolicy(database.db, admin, { requireAdminSecondFactor: 'yes' }))).toBe('WRONG_VALUE');
    expect(await code(setSecurityPolicy(database.db, admin, {}))).toBe('WRONG_VALUE');
    expect(await code(setSecurityPolicy(database.db, admin, { requireAdminSecondFactor: true }))).toBe('SECOND_FACTOR_REQUIRED');
    expect(await securityPolicy(database.db)).toEqual({ requireAdminSecondFactor: false });

    const s = await beginTotpSetup(database.db, key, admin);
    await enableTotp(database.db, key, admin, { code: await totp(s.secret, T0) }, T0);
    expect(await setSecurityPolicy(database.db, admin, { requireAdminSecondFactor: true })).toEqual({ requireAdminSecondFactor: true });
    expect(await securityPolicy(database.db)).toEqual({ requireAdminSecondFactor: true });
    expect(await mustSetUpSecondFactor(database.db, admin)).toBe(false);
    expect(await mustSetUpSecondFactor(database.db, admin2)).toBe(true);
    expect(await mustSetUpSecondFactor(database.db, alice)).toBe(false);
    const h = await database.db.select().from(history).where(eq(history.operation, 'security_policy'));
    expect(h.map((r) => [r.userId, r.detail])).toEqual([[admin.id, 'second factor for administrators required']]);
    expect(await setSecurityPolicy(database.db, admin, { requireAdminSecondFactor: false })).toEqual({ requireAdminSecondFactor: false });
    expect(await mustSetUpSecondFactor(database.db, admin2)).toBe(false);
  });

  it("an administrator removes a user's second factor (lost authenticator); recorded in that user's history", async () => {
    expect(await userHasSecondFactor(database.db, admin.id)).toBe(true);
    const pending = await startChallenge(database.db, admin, at(3000));
    expect(await code(resetSecondFactor(database.db, admin2, 'not-a-uuid'))).toBe('NOT_FOUND');
    expect(await code(resetSecondFactor(database.db, admin2, '00000000-0000-4000-8000-000000000000'))).toBe('NOT_FOUND');
    expect(await resetSecondFactor(database.db, admin2, admin.id)).toEqual({ removed: true });
    expect(await userHasSecondFactor(database.db, admin.id)).toBe(false);
    expect(await database.db.select().from(recoveryCodes).where(eq(recoveryCodes.userId, admin.id))).toEqual([]);
    expect(await code(completeChallenge(database.db, key, pending.token, { code: '123456' }, '10.2.2.2', at(3000)))).toBe('SECOND_FACTOR_EXPIRED');
    const h = await database.db.select().from(history).where(eq(history.userId, admin.id));
    expect(h.filter((r) => r.operation === 'totp_disable').map((r) => r.detail)).toEqual(['removed by administrator root2@x.test']);
    expect(await resetSecondFactor(database.db, admin2, admin.id)).toEqual({ removed: false });
  });
});
