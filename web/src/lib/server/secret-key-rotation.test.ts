/**
 * Rotating the coordinator's secret key (issue #19) on PGlite and PostgreSQL: every TOTP secret moves from
 * the old key to the new one in one transaction and still verifies codes; a second run changes nothing; a
 * wrong old key (or a row under neither key) changes nothing at all; the start-time entry point reads
 * KOFN_SECRET_KEY_OLD and the key in force.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generate } from 'otplib';
import { randomBytes } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import { errorCode as code } from './testing/file-services.js';
import type { Database } from './db/index.js';
import { totpCredentials } from './db/schema.js';
import { createUser, type User } from './auth.js';
import { beginTotpSetup, enableTotp, totpStatus } from './second-factor.js';
import { open as openSealed, seal } from './secret-box.js';
import { rotateFromEnvironment, rotateSecretKey } from './secret-key-rotation.js';

const T0 = new Date('2030-03-01T10:00:00Z');
const totp = (secret: string, when: Date) => generate({ secret, epoch: Math.floor(when.getTime() / 1000), period: 30 });
const b64 = (k: Uint8Array) => Buffer.from(k).toString('base64url');

describeDatabases('secret key rotation on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let alice: User;
  let bob: User;
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const secrets = new Map<string, string>();
  const rows = async () => new Map((await database.db.select().from(totpCredentials)).map((r) => [r.userId, r.secret]));

  beforeAll(async () => {
    database = await open();
    alice = await createUser(database.db, { email: 'alice@x.test', displayName: 'Alice', password: 'alice password 1', role: 'user' }, 100);
    bob = await createUser(database.db, { email: 'bob@x.test', displayName: 'Bob', password: 'bob password 1', role: 'user' }, 100);
    // Alice has TOTP on; Bob is half-way through set-up: both secrets are sealed under the old key.
    const a = await beginTotpSetup(database.db, oldKey, alice);
    await enableTotp(database.db, oldKey, alice, { code: await totp(a.secret, T0) }, T0);
    secrets.set(alice.id, a.secret);
    secrets.set(bob.id, (await beginTotpSetup(database.db, oldKey, bob)).secret);
  });
  afterAll(() => database.drop());

  it('refuses the key in force as the old key', async () => {
    expect(await code(rotateSecretKey(database.db, oldKey, oldKey))).toBe('WRONG_VALUE');
  });

  it('a wrong old key changes nothing (one transaction), and says so with a stable code', async () => {
    const before = await rows();
    expect(await code(rotateSecretKey(database.db, randomBytes(32), newKey))).toBe('SECRET_KEY_MISMATCH');
    expect(await rows()).toEqual(before);
  });

  it('re-seals every secret under the new key; codes verify with it; the old key opens nothing', async () => {
    expect(await rotateSecretKey(database.db, oldKey, newKey)).toEqual({ resealed: 2, alreadyNew: 0 });
    for (const [userId, sealed] of await rows()) {
      expect(openSealed(newKey, sealed, userId)).toBe(secrets.get(userId));
      expect(() => openSealed(oldKey, sealed, userId)).toThrow(/does not open/);
    }
    // The coordinator's own code path reads the re-sealed secret: Bob finishes his set-up under the new key.
    const later = new Date(T0.getTime() + 60_000);
    expect((await enableTotp(database.db, newKey, bob, { code: await totp(secrets.get(bob.id)!, later) }, later)).enabled).toBe(true);
    expect(await totpStatus(database.db, bob.id)).toEqual({ enabled: true, recoveryCodesLeft: 10 });
    expect(await totpStatus(database.db, alice.id)).toEqual({ enabled: true, recoveryCodesLeft: 10 });
  });

  it('running it again (a second start, another replica) does nothing more', async () => {
    const before = await rows();
    expect(await rotateSecretKey(database.db, oldKey, newKey)).toEqual({ resealed: 0, alreadyNew: 2 });
    expect(await rows()).toEqual(before);
  });

  it('a row under neither key stops the rotation and rolls back the rows already moved', async () => {
    const third = randomBytes(32);
    const carol = await createUser(database.db, { email: 'carol@x.test', displayName: 'Carol', password: 'carol password 1', role: 'user' }, 100);
    await database.db.insert(totpCredentials).values({ userId: carol.id, secret: seal(third, 'JBSWY3DPEHPK3PXP', carol.id) });
    const before = await rows();
    // From newKey to a fourth key: Alice's and Bob's rows would move, Carol's opens under neither.
    expect(await code(rotateSecretKey(database.db, newKey, randomBytes(32)))).toBe('SECRET_KEY_MISMATCH');
    expect(await rows()).toEqual(before);
  });

  it('at start: nothing without KOFN_SECRET_KEY_OLD; with it, from the old key to KOFN_SECRET_KEY or secret.key', async () => {
    await database.db.delete(totpCredentials);
    const dave = await createUser(database.db, { email: 'dave@x.test', displayName: 'Dave', password: 'dave password 1', role: 'user' }, 100);
    const s = (await beginTotpSetup(database.db, newKey, dave)).secret;
    const dir = mkdtempSync(join(tmpdir(), 'kofn-rotate-'));
    expect(await rotateFromEnvironment(database.db, dir, { KOFN_SECRET_KEY: b64(newKey) })).toBeUndefined();
    const next = randomBytes(32);
    expect(await rotateFromEnvironment(database.db, dir, { KOFN_SECRET_KEY: b64(next), KOFN_SECRET_KEY_OLD: b64(newKey) })).toEqual({ resealed: 1, alreadyNew: 0 });
    expect(openSealed(next, (await rows()).get(dave.id)!, dave.id)).toBe(s);
    // No KOFN_SECRET_KEY: the key in force is the data directory's secret.key (made here).
    const r = await rotateFromEnvironment(database.db, dir, { KOFN_SECRET_KEY_OLD: b64(next) });
    expect(r).toEqual({ resealed: 1, alreadyNew: 0 });
    await expect(rotateFromEnvironment(database.db, dir, { KOFN_SECRET_KEY_OLD: 'short' })).rejects.toThrow(/32 bytes/);
  });
});
