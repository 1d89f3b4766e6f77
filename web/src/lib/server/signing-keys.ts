/**
 * The coordinator's token signing keys: an Ed25519 pair made on first start and kept in the database,
 * so every coordinator replica signs with it and relays verify against `/api/jwks`.
 * Known limit (README): the private key sits in the database; whoever reads the database can mint tokens.
 *
 * Token subjects are per-file pseudonyms, not user ids (issue #13 item 12): a relay, or anyone holding
 * k-1 relays' logs, must not learn who owns a file nor link one user's files together. The subject is
 * HMAC-SHA256(subject key, file id, user id) cut to 128 bits; the subject key is derived with HKDF from
 * the signing key's private seed, a secret every replica already shares, so no new table or setting is
 * needed, and with its own HKDF label so it is independent of the signing use. The same user and file
 * always give the same subject (while the signing key stays the newest); the coordinator alone can tell
 * whose it is, by recomputing `tokenSubject`.
 */
import { asc, desc } from 'drizzle-orm';
import { SignJWT, importJWK, type CryptoKey, type JWK } from 'jose';
import { createHmac, hkdfSync } from 'node:crypto';
import { newEd25519KeyPair } from '@kofn/shared/ed25519-keys';
import { MAX_TOKEN_LIFETIME_S, TOKEN_ISSUER, type CapabilityClaims, randomUuid } from '@kofn/shared';
import type { Db } from './db/index.js';
import { present } from './db/present.js';
import { signingKeys } from './db/schema.js';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  /** HMAC key for token subjects, derived from the private key (never published, never stored). */
  subjectKey: Uint8Array;
}

const SUBJECT_LABEL = 'kofn capability token subject v1';

function deriveSubjectKey(privateJwk: JWK): Uint8Array {
  if (typeof privateJwk.d !== 'string') throw new Error('signing key has no private part');
  return new Uint8Array(hkdfSync('sha256', Buffer.from(privateJwk.d, 'base64url'), 'kofn', SUBJECT_LABEL, 32));
}

/** The per-file pseudonym a relay sees in `sub` for this user: unlinkable across files without the key. */
export function tokenSubject(key: SigningKey, userId: string, fileId: string): string {
  // The file id has a fixed length (32 hex), so fileId || 0x00 || userId is unambiguous.
  return createHmac('sha256', key.subjectKey).update(fileId).update('\0').update(userId).digest().subarray(0, 16).toString('base64url');
}

export async function ensureSigningKey(db: Db): Promise<SigningKey> {
  let [row] = await db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt)).limit(1);
  if (!row) {
    // The key pair from random.ts's seed (ed25519-keys.ts), exported as RFC 8037 OKP JWKs.
    const { publicKey, privateKey } = newEd25519KeyPair();
    const kid = randomUuid();
    // Two replicas starting together may both try; the primary key keeps one of each, both valid.
    await db
      .insert(signingKeys)
      .values({ kid, publicJwk: JSON.stringify(publicKey.export({ format: 'jwk' })), privateJwk: JSON.stringify(privateKey.export({ format: 'jwk' })) })
      .onConflictDoNothing();
    [row] = await db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt)).limit(1);
  }
  const key = present(row, 'the signing key just stored');
  const jwk = JSON.parse(key.privateJwk) as JWK;
  return { kid: key.kid, privateKey: (await importJWK(jwk, 'EdDSA')) as CryptoKey, subjectKey: deriveSubjectKey(jwk) };
}

/** Public keys for relays (RFC 7517 JWK Set). */
export async function publicJwks(db: Db): Promise<{ keys: JWK[] }> {
  const rows = await db.select().from(signingKeys).orderBy(asc(signingKeys.createdAt));
  return { keys: rows.map((r) => ({ ...(JSON.parse(r.publicJwk) as JWK), kid: r.kid, alg: 'EdDSA', use: 'sig' })) };
}

export interface MintRequest extends CapabilityClaims {
  relayId: string;
  /** Who the token is for; relays see only its per-file pseudonym (`tokenSubject`). */
  userId: string;
  /** Seconds; at most MAX_TOKEN_LIFETIME_S. */
  ttl: number;
}

export function mintCapability(key: SigningKey, req: MintRequest): Promise<string> {
  const ttl = Math.min(req.ttl, MAX_TOKEN_LIFETIME_S);
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { fid: req.fid, op: req.op, chunks: req.chunks };
  if (req.max !== undefined) claims.max = req.max;
  // Proactive renewal (#15, shared/docs/renewal.md): the epoch and the renewal scope travel signed.
  for (const name of ['ep', 'dx', 'dxs', 'rh', 'w', 'fx', 'wo'] as const) if (req[name] !== undefined) claims[name] = req[name];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(req.relayId)
    .setSubject(tokenSubject(key, req.userId, req.fid))
    .setJti(randomUuid())
    .setIssuedAt(now)
    .setNotBefore(now - 5)
    .setExpirationTime(now + ttl)
    .sign(key.privateKey);
}
