import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { TOKEN_ISSUER } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { ensureSigningKey, mintCapability, publicJwks, tokenSubject } from './signing-keys.js';

describeDatabases('signing keys on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  beforeAll(async () => {
    database = await open();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('creates one Ed25519 key on first start and reuses it afterwards', async () => {
    const a = await ensureSigningKey(database.db);
    const b = await ensureSigningKey(database.db);
    expect(a.kid).toBe(b.kid);
    const { keys } = await publicJwks(database.db);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: a.kid, alg: 'EdDSA', use: 'sig' });
  });

  it('publishes no private material', async () => {
    const { keys } = await publicJwks(database.db);
    for (const k of keys) expect(k).not.toHaveProperty('d');
  });

  it('mints capability tokens that verify against the published JWKS, capped at 15 minutes', async () => {
    const key = await ensureSigningKey(database.db);
    const fid = 'ab'.repeat(16);
    const token = await mintCapability(key, { relayId: 'relay-1', userId: 'u1', fid, op: 'get', chunks: [0, 3], ttl: 3600 });
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(await publicJwks(database.db)), {
      issuer: TOKEN_ISSUER,
      audience: 'relay-1',
      algorithms: ['EdDSA']
    });
    expect(protectedHeader.kid).toBe(key.kid);
    expect(payload).toMatchObject({ fid, op: 'get', chunks: [0, 3], sub: tokenSubject(key, 'u1', fid) });
    expect(payload.exp! - payload.iat!).toBe(900);
  });

  describe('token subjects are per-file pseudonyms (issue #13 item 12)', () => {
    const userId = '7d3f9a52-1c4e-4b8a-9f00-5e2d7c1b3a99';
    const otherUser = '0b6e2f1a-8c3d-4e5f-a617-28394a5b6c7d';
    const fileA = 'ab'.repeat(16);
    const fileB = 'cd'.repeat(16);
    const mint = async (user: string, fid: string, relayId = 'relay-1') =>
      decodeJwt(await mintCapability(await ensureSigningKey(database.db), { relayId, userId: user, fid, op: 'get', chunks: [0, 0], ttl: 60 }));

    it('never puts the user id in a token a relay can read', async () => {
      const token = await mintCapability(await ensureSigningKey(database.db), { relayId: 'relay-1', userId, fid: fileA, op: 'put', chunks: [0, 9], max: 10, ttl: 60 });
      const text = token
        .split('.')
        .slice(0, 2)
        .map((part) => Buffer.from(part, 'base64url').toString('utf8'))
        .join('');
      expect(text).not.toContain(userId);
      expect(text).not.toContain(userId.replaceAll('-', ''));
      expect((await mint(userId, fileA)).sub).toMatch(/^[A-Za-z0-9_-]{22}$/);
    });

    it('gives the same subject for the same user and file, on every relay and after a restart', async () => {
      const a = await mint(userId, fileA, 'relay-1');
      const b = await mint(userId, fileA, 'relay-2');
      expect(a.sub).toBe(b.sub);
      expect(a.jti).not.toBe(b.jti);
    });

    it('gives unlinkable subjects for one user across files, and distinct subjects for two users of one file', async () => {
      const subjects = [await mint(userId, fileA), await mint(userId, fileB), await mint(otherUser, fileA), await mint(otherUser, fileB)].map((p) => p.sub);
      expect(new Set(subjects).size).toBe(4);
    });

    it('is keyed by the coordinator secret: another deployment derives other subjects for the same ids', async () => {
      const other = await open();
      try {
        const mine = tokenSubject(await ensureSigningKey(database.db), userId, fileA);
        const theirs = tokenSubject(await ensureSigningKey(other.db), userId, fileA);
        expect(theirs).not.toBe(mine);
      } finally {
        await other.drop();
      }
    });
  });
});
