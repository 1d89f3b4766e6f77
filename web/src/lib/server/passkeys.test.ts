/**
 * Passkeys (issue #19) on PGlite and PostgreSQL, with genuine WebAuthn responses from a software
 * authenticator (testing/authenticator.ts): several passkeys per user, named, renamed and removed;
 * usernameless sign-in into a normal session; challenges single-use, short-lived and bound to their
 * purpose and user (replayed attestations and assertions refused); wrong origin, RP ID, missing user
 * verification, a cloned authenticator's counter, a foreign user handle, a disabled account refused;
 * malformed and oversized input refused with stable codes; sign-in challenges capped per address; history
 * records added, renamed, removed and used.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import { errorCode as code } from './testing/file-services.js';
import { SoftAuthenticator } from './testing/authenticator.js';
import type { Database } from './db/index.js';
import { history, passkeys, users, webauthnChallenges } from './db/schema.js';
import { createUser, sessionUser, type User } from './auth.js';
import {
  CHALLENGE_TTL_MS,
  MAX_OPEN_LOGIN_CHALLENGES,
  MAX_PASSKEYS_PER_USER,
  MAX_OPEN_LOGIN_CHALLENGES_PER_CLIENT,
  listPasskeys,
  loginOptions,
  passkeyLogin,
  purgeExpiredChallenges,
  registerPasskey,
  registrationOptions,
  relyingParty,
  removePasskey,
  renamePasskey,
  userHasPasskey
} from './passkeys.js';

const ORIGIN = 'https://kofn.example.test';
const rp = relyingParty(new URL(`${ORIGIN}/api/passkeys/login`));

describeDatabases('passkeys on $name', { once: true }, ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let alice: User;
  let bob: User;
  const mk = (email: string) => createUser(database.db, { email, displayName: email, password: 'first password 1', role: 'user' }, 100);
  const ops = async (userId: string) => (await database.db.select().from(history).where(eq(history.userId, userId))).map((h) => [h.operation, h.fileName, h.result]);

  /** Registers a new passkey for `user` on `auth` through the real ceremony. */
  async function enrol(user: User, auth: SoftAuthenticator, name: string) {
    const options = await registrationOptions(database.db, user, rp);
    return registerPasskey(database.db, user, rp, { name, response: auth.create(options) });
  }

  beforeAll(async () => {
    database = await open();
    alice = await mk('alice@x.test');
    bob = await mk('bob@x.test');
  });
  afterAll(() => database.drop());

  it('the relying party is the public origin: its host name is the RP ID', () => {
    expect(rp).toEqual({ id: 'kofn.example.test', origin: ORIGIN, name: 'kofn' });
    expect(relyingParty(new URL('http://localhost:5173/x'))).toEqual({ id: 'localhost', origin: 'http://localhost:5173', name: 'kofn' });
  });

  it('registers several passkeys, asks for a discoverable verified credential, excludes those held, keeps only public material', async () => {
    const phone = new SoftAuthenticator({ origin: ORIGIN });
    expect(await userHasPasskey(database.db, alice.id)).toBe(false);
    const options = await registrationOptions(database.db, alice, rp);
    expect(options.rp).toEqual({ id: 'kofn.example.test', name: 'kofn' });
    expect(options.user.name).toBe('alice@x.test');
    expect(Buffer.from(options.user.id, 'base64url').toString('hex')).toBe(alice.id.replaceAll('-', ''));
    expect(options.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' });
    expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const first = await registerPasskey(database.db, alice, rp, { name: ' Phone ', response: phone.create(options) });
    expect(first).toMatchObject({ name: 'Phone', lastUsedAt: null, backedUp: false, deviceType: 'singleDevice' });
    const laptop = new SoftAuthenticator({ origin: ORIGIN, counts: false });
    const second = await enrol(alice, laptop, 'Laptop');
    expect(second).toMatchObject({ name: 'Laptop', backedUp: true, deviceType: 'multiDevice' });
    expect((await listPasskeys(database.db, alice.id)).map((p) => p.name)).toEqual(['Phone', 'Laptop']);
    expect(await userHasPasskey(database.db, alice.id)).toBe(true);
    expect(await userHasPasskey(database.db, bob.id)).toBe(false);
    const again = await registrationOptions(database.db, alice, rp);
    expect(again.excludeCredentials?.map((c) => c.id).sort()).toEqual([first.id, second.id].sort());
    const [row] = await database.db.select().from(passkeys).where(eq(passkeys.id, first.id));
    expect(Object.keys(row!).sort()).toEqual(['backedUp', 'counter', 'createdAt', 'deviceType', 'id', 'lastUsedAt', 'name', 'publicKey', 'transports', 'userId']);
    expect(await ops(alice.id)).toEqual(
      expect.arrayContaining([
        ['passkey_add', 'Phone', 'ok'],
        ['passkey_add', 'Laptop', 'ok']
      ])
    );
  });

  it('usernameless sign-in makes a normal session; the counter, backup state and last use are kept; history records the use', async () => {
    const key = new SoftAuthenticator({ origin: ORIGIN });
    const made = await enrol(bob, key, 'YubiKey');
    const options = await loginOptions(database.db, rp, '10.0.0.1');
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(options.userVerification).toBe('required');
    expect(options.rpId).toBe('kofn.example.test');
    const session = await passkeyLogin(database.db, rp, { response: key.get(options) });
    expect(session.user).toEqual({ id: bob.id, email: 'bob@x.test', displayName: 'bob@x.test', role: 'user' });
    expect(session.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await sessionUser(database.db, session.token))?.user.id).toBe(bob.id);
    const [row] = await database.db.select().from(passkeys).where(eq(passkeys.id, made.id));
    expect(row!.counter).toBe(2);
    expect(row!.lastUsedAt).not.toBeNull();
    expect(await ops(bob.id)).toContainEqual(['passkey_use', 'YubiKey', 'ok']);
    // An assertion with no user handle (allowed by WebAuthn for non-discoverable use) still signs in.
    const o2 = await loginOptions(database.db, rp, '10.0.0.1');
    expect((await passkeyLogin(database.db, rp, { response: key.get(o2, { userHandle: null }) })).user.id).toBe(bob.id);
  });

  it('a replayed assertion is refused: its challenge was spent by the first use', async () => {
    const key = new SoftAuthenticator({ origin: ORIGIN, counts: false });
    await enrol(bob, key, 'Synced');
    const options = await loginOptions(database.db, rp, '10.0.0.2');
    const response = key.get(options);
    expect((await passkeyLogin(database.db, rp, { response })).user.id).toBe(bob.id);
    expect(await code(passkeyLogin(database.db, rp, { response }))).toBe('PASSKEY_REFUSED');
    // Replayed in parallel: exactly one of several identical fresh assertions signs in.
    const o2 = await loginOptions(database.db, rp, '10.0.0.2');
    const r2 = key.get(o2);
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => passkeyLogin(database.db, rp, { response: r2 })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('a replayed attestation is refused; a challenge serves only its own purpose and user', async () => {
    const key = new SoftAuthenticator({ origin: ORIGIN });
    const options = await registrationOptions(database.db, alice, rp);
    const response = key.create(options);
    await registerPasskey(database.db, alice, rp, { name: 'Once', response });
    expect(await code(registerPasskey(database.db, alice, rp, { name: 'Twice', response }))).toBe('PASSKEY_INVALID');
    // Bob cannot finish a ceremony Alice started.
    const hers = await registrationOptions(database.db, alice, rp);
    expect(await code(registerPasskey(database.db, bob, rp, { name: 'Stolen', response: new SoftAuthenticator({ origin: ORIGIN }).create(hers) }))).toBe('PASSKEY_INVALID');
    // A registration challenge does not sign in, a sign-in challenge does not register.
    const reg = await registrationOptions(database.db, alice, rp);
    expect(await code(passkeyLogin(database.db, rp, { response: key.get({ challenge: reg.challenge, rpId: rp.id }) }))).toBe('PASSKEY_REFUSED');
    const login = await loginOptions(database.db, rp, '10.0.0.3');
    const asReg = key.create({ ...reg, challenge: login.challenge });
    expect(await code(registerPasskey(database.db, alice, rp, { name: 'Wrong purpose', response: asReg }))).toBe('PASSKEY_INVALID');
    expect((await listPasskeys(database.db, bob.id)).map((p) => p.name)).not.toContain('Stolen');
  });

  it('expired challenges are refused and purged', async () => {
    const key = new SoftAuthenticator({ origin: ORIGIN });
    const then = new Date(Date.now() - CHALLENGE_TTL_MS - 1000);
    const reg = await registrationOptions(database.db, alice, rp, then);
    expect(await code(registerPasskey(database.db, alice, rp, { name: 'Late', response: key.create(reg) }))).toBe('PASSKEY_INVALID');
    await enrol(alice, key, 'Timely');
    const login = await loginOptions(database.db, rp, '10.0.0.4', then);
    expect(await code(passkeyLogin(database.db, rp, { response: key.get(login) }))).toBe('PASSKEY_REFUSED');
    await loginOptions(database.db, rp, '10.0.0.4', then);
    expect(await purgeExpiredChallenges(database.db)).toBeGreaterThanOrEqual(1);
    const left = await database.db.select().from(webauthnChallenges);
    expect(left.every((c) => c.expiresAt > new Date())).toBe(true);
  });

  it('refuses another origin, another RP ID, an unverified user, a cloned counter, a foreign user handle, a disabled account', async () => {
    const key = new SoftAuthenticator({ origin: ORIGIN });
    const made = await enrol(alice, key, 'Strict');
    // Registration from another site or for another RP ID, or without user verification.
    for (const over of [{ origin: 'https://evil.example.test' }, { rpId: 'evil.example.test' }]) {
      const o = await registrationOptions(database.db, alice, rp);
      expect(await code(registerPasskey(database.db, alice, rp, { name: 'Bad', response: new SoftAuthenticator({ origin: ORIGIN }).create(o, over) })), JSON.stringify(over)).toBe('PASSKEY_INVALID');
    }
    const noUv = new SoftAuthenticator({ origin: ORIGIN, userVerified: false });
    expect(await code(enrol(alice, noUv, 'No UV'))).toBe('PASSKEY_INVALID');
    const which = key.held.findIndex((h) => h.id === made.id);
    const attempt = async (over: Parameters<SoftAuthenticator['get']>[1], auth = key) =>
      code(passkeyLogin(database.db, rp, { response: auth.get(await loginOptions(database.db, rp, '10.0.1.1'), { which, ...over }) }));
    expect(await attempt({ origin: 'https://evil.example.test' })).toBe('PASSKEY_REFUSED');
    expect(await attempt({ rpId: 'evil.example.test' })).toBe('PASSKEY_REFUSED');
    expect(await attempt({ userHandle: Buffer.from(bob.id.replaceAll('-', ''), 'hex').toString('base64url') })).toBe('PASSKEY_REFUSED');
    // A counter that does not grow betrays a cloned authenticator (WebAuthn §6.1.1).
    expect(await attempt({})).toBeUndefined();
    expect(await attempt({ counter: 1 })).toBe('PASSKEY_REFUSED');
    expect(await attempt({})).toBeUndefined();
    await database.db.update(users).set({ disabled: true }).where(eq(users.id, alice.id));
    expect(await attempt({})).toBe('PASSKEY_REFUSED');
    await database.db.update(users).set({ disabled: false }).where(eq(users.id, alice.id));
    expect(await attempt({})).toBeUndefined();
    expect(await ops(alice.id)).toContainEqual(['passkey_use', 'Strict', 'error']);
  });

  it('renames and removes only its owner’s passkeys; a removed passkey signs in no more', async () => {
    const key = new SoftAuthenticator({ origin: ORIGIN });
    const made = await enrol(bob, key, 'Old name');
    expect(await code(renamePasskey(database.db, alice, made.id, 'Mine now'))).toBe('NOT_FOUND');
    expect(await code(removePasskey(database.db, alice, made.id))).toBe('NOT_FOUND');
    expect((await renamePasskey(database.db, bob, made.id, ' New name ')).name).toBe('New name');
    for (const bad of ['', ' ', 'x'.repeat(65), 'a\nb', 7, null]) expect(await code(renamePasskey(database.db, bob, made.id, bad)), String(bad)).toBe('WRONG_VALUE');
    for (const bad of ['', 'not base64!', 'x'.repeat(2000), 42, undefined]) expect(await code(removePasskey(database.db, bob, bad))).toBe('NOT_FOUND');
    await removePasskey(database.db, bob, made.id);
    expect(await code(removePasskey(database.db, bob, made.id))).toBe('NOT_FOUND');
    expect(await code(passkeyLogin(database.db, rp, { response: key.get(await loginOptions(database.db, rp, '10.0.2.1')) }))).toBe('PASSKEY_REFUSED');
    expect(await ops(bob.id)).toEqual(
      expect.arrayContaining([
        ['passkey_rename', 'New name', 'ok'],
        ['passkey_remove', 'New name', 'ok']
      ])
    );
  });

  it('malformed and oversized responses and names are refused with stable codes, spending nothing else', async () => {
    const key = new SoftAuthenticator({ origin: ORIGIN });
    const options = await registrationOptions(database.db, alice, rp);
    const good = key.create(options);
    const big = 'A'.repeat(20_000);
    const badRegs: unknown[] = [
      undefined,
      null,
      'x',
      [],
      {},
      { ...good, type: 'password' },
      { ...good, id: 'not base64!', rawId: 'not base64!' },
      { ...good, rawId: 'AAAA' },
      { ...good, id: big, rawId: big },
      { ...good, response: null },
      { ...good, response: { ...good.response, clientDataJSON: big } },
      { ...good, response: { ...good.response, attestationObject: big } },
      { ...good, response: { ...good.response, clientDataJSON: Buffer.from('{not json').toString('base64url') } },
      { ...good, response: { ...good.response, transports: ['carrier-pigeon'] } },
      { ...good, response: { ...good.response, transports: 'usb' } },
      { ...good, clientExtensionResults: 5 }
    ];
    for (const response of badRegs) expect(await code(registerPasskey(database.db, alice, rp, { name: 'Bad', response })), JSON.stringify(response)?.slice(0, 80)).toBe('PASSKEY_INVALID');
    for (const name of [undefined, '', 'x'.repeat(65), 'tab\there']) expect(await code(registerPasskey(database.db, alice, rp, { name, response: good }))).toBe('WRONG_VALUE');
    // None of that spent the challenge: the genuine response still registers.
    expect((await registerPasskey(database.db, alice, rp, { name: 'Genuine', response: good })).name).toBe('Genuine');
    // Well-formed but not an attestation: refused, and that challenge is spent.
    const junk = key.create(await registrationOptions(database.db, alice, rp));
    expect(await code(registerPasskey(database.db, alice, rp, { name: 'Junk', response: { ...junk, response: { ...junk.response, attestationObject: 'AAAA' } } }))).toBe('PASSKEY_INVALID');
    expect(await code(registerPasskey(database.db, alice, rp, { name: 'Junk', response: junk }))).toBe('PASSKEY_INVALID');

    const login = await loginOptions(database.db, rp, '10.0.3.1');
    const assertion = key.get(login, { which: key.held.length - 1 });
    const badLogins: unknown[] = [
      undefined,
      {},
      { ...assertion, response: { ...assertion.response, signature: big } },
      { ...assertion, response: { ...assertion.response, authenticatorData: 42 } },
      { ...assertion, response: { ...assertion.response, userHandle: 'x'.repeat(500) } }
    ];
    for (const response of badLogins) expect(await code(passkeyLogin(database.db, rp, { response }))).toBe('PASSKEY_INVALID');
    // Well-formed but wrong: a flipped signature byte, an unknown credential.
    const sig = Buffer.from(assertion.response.signature, 'base64url');
    sig[sig.length - 1]! ^= 1;
    expect(await code(passkeyLogin(database.db, rp, { response: { ...assertion, response: { ...assertion.response, signature: sig.toString('base64url') } } }))).toBe('PASSKEY_REFUSED');
    const other = key.get(await loginOptions(database.db, rp, '10.0.3.1'), { which: key.held.length - 1 });
    expect(await code(passkeyLogin(database.db, rp, { response: { ...other, id: 'AAAAAAAAAAAAAAAAAAAAAA', rawId: 'AAAAAAAAAAAAAAAAAAAAAA' } }))).toBe('PASSKEY_REFUSED');
  });

  it(`sign-in challenges are capped at ${MAX_OPEN_LOGIN_CHALLENGES_PER_CLIENT} open per client address (the sign-in rate limit)`, async () => {
    for (let i = 0; i < MAX_OPEN_LOGIN_CHALLENGES_PER_CLIENT; i++) await loginOptions(database.db, rp, '10.9.9.9');
    const err = await loginOptions(database.db, rp, '10.9.9.9').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: CHALLENGE_TTL_MS / 1000 });
    // Another address is not held up; once the challenges expire the address may start again.
    await loginOptions(database.db, rp, '10.9.9.10');
    await loginOptions(database.db, rp, '10.9.9.9', new Date(Date.now() + CHALLENGE_TTL_MS + 1000));
    // The client address is stored only as a hash.
    const rows = await database.db.select().from(webauthnChallenges);
    expect(JSON.stringify(rows)).not.toContain('10.9.9.9');
  });

  it(`sign-in challenges are capped at ${MAX_OPEN_LOGIN_CHALLENGES} open in all, whatever the addresses`, async () => {
    const expiresAt = new Date(Date.now() + CHALLENGE_TTL_MS);
    const rows = Array.from({ length: MAX_OPEN_LOGIN_CHALLENGES }, (_, i) => ({ challenge: `flood-${i}`, purpose: 'login' as const, userId: null, client: `flood-${i}`, expiresAt }));
    for (let i = 0; i < rows.length; i += 1000) await database.db.insert(webauthnChallenges).values(rows.slice(i, i + 1000));
    expect(await code(loginOptions(database.db, rp, '10.8.0.1'))).toBe('RATE_LIMITED');
    await database.db.delete(webauthnChallenges).where(eq(webauthnChallenges.purpose, 'login'));
    await loginOptions(database.db, rp, '10.8.0.1');
  });

  it(`at most ${MAX_PASSKEYS_PER_USER} passkeys per user, even when registered in parallel`, async () => {
    const dave = await mk('dave@x.test');
    const key = new SoftAuthenticator({ origin: ORIGIN });
    for (let i = 0; i < MAX_PASSKEYS_PER_USER - 2; i++) await enrol(dave, key, `k${i}`);
    // Five ceremonies started together (the most a user keeps open), finished together: two fit.
    const started = await Promise.all(Array.from({ length: 5 }, () => registrationOptions(database.db, dave, rp)));
    const results = await Promise.allSettled(started.map((o, i) => registerPasskey(database.db, dave, rp, { name: `p${i}`, response: key.create(o) })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as { code?: string }).code).toBe('CONFLICT');
    expect(await listPasskeys(database.db, dave.id)).toHaveLength(MAX_PASSKEYS_PER_USER);
    expect(await code(registrationOptions(database.db, dave, rp))).toBe('CONFLICT');
  });

  it('a deleted account takes its passkeys and challenges with it', async () => {
    const carol = await mk('carol@x.test');
    await enrol(carol, new SoftAuthenticator({ origin: ORIGIN }), 'Carol’s');
    await registrationOptions(database.db, carol, rp);
    await database.db.delete(users).where(eq(users.id, carol.id));
    expect(await listPasskeys(database.db, carol.id)).toEqual([]);
    expect(await database.db.select().from(webauthnChallenges).where(eq(webauthnChallenges.userId, carol.id))).toEqual([]);
  });
});
