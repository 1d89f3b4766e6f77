/**
 * The coordinator's token signing keys: an Ed25519 pair made on first start and kept in the database,
 * so every coordinator replica signs with it and relays verify against `/api/jwks`.
 * Known limit (README): the private key sits in the database; whoever reads the database can mint tokens.
 */
import { asc, desc } from 'drizzle-orm';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { randomUUID } from 'node:crypto';
import { MAX_TOKEN_LIFETIME_S, TOKEN_ISSUER, type CapabilityClaims } from '@kofn/shared';
import type { Db } from './db/index.js';
import { signingKeys } from './db/schema.js';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
}

export async function ensureSigningKey(db: Db): Promise<SigningKey> {
  let [row] = await db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt)).limit(1);
  if (!row) {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const kid = randomUUID();
    // Two replicas starting together may both try; the primary key keeps one of each, both valid.
    await db
      .insert(signingKeys)
      .values({ kid, publicJwk: JSON.stringify(await exportJWK(publicKey)), privateJwk: JSON.stringify(await exportJWK(privateKey)) })
      .onConflictDoNothing();
    [row] = await db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt)).limit(1);
  }
  const jwk = JSON.parse(row!.privateJwk) as JWK;
  return { kid: row!.kid, privateKey: (await importJWK(jwk, 'EdDSA')) as CryptoKey };
}

/** Public keys for relays (RFC 7517 JWK Set). */
export async function publicJwks(db: Db): Promise<{ keys: JWK[] }> {
  const rows = await db.select().from(signingKeys).orderBy(asc(signingKeys.createdAt));
  return { keys: rows.map((r) => ({ ...(JSON.parse(r.publicJwk) as JWK), kid: r.kid, alg: 'EdDSA', use: 'sig' })) };
}

export interface MintRequest extends CapabilityClaims {
  relayId: string;
  userId: string;
  /** Seconds; at most MAX_TOKEN_LIFETIME_S. */
  ttl: number;
}

export function mintCapability(key: SigningKey, req: MintRequest): Promise<string> {
  const ttl = Math.min(req.ttl, MAX_TOKEN_LIFETIME_S);
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { fid: req.fid, op: req.op, chunks: req.chunks };
  if (req.max !== undefined) claims.max = req.max;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(req.relayId)
    .setSubject(req.userId)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setNotBefore(now - 5)
    .setExpirationTime(now + ttl)
    .sign(key.privateKey);
}
