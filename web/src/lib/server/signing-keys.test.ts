import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { TOKEN_ISSUER } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { ensureSigningKey, mintCapability, publicJwks } from './signing-keys.js';

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
    expect(payload).toMatchObject({ fid, op: 'get', chunks: [0, 3], sub: 'u1' });
    expect(payload.exp! - payload.iat!).toBe(900);
  });
});
