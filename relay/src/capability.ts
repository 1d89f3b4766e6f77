/**
 * Verifies a capability token (EdDSA JWT signed by the coordinator) for one request. Every signature or
 * format failure is the same TOKEN_INVALID with the same message (no oracle for forgers); expiry,
 * not-yet-valid, audience and scope have their own codes because clients act on them.
 */
import { jwtVerify, type CryptoKey, type JWTVerifyGetKey, type KeyObject } from 'jose';
import { KofnError, MAX_TOKEN_BYTES, MAX_TOKEN_LIFETIME_S, TOKEN_ISSUER, WHOLE_FILE_OPS, parseCapabilityClaims, hasErrorCode, type CapabilityClaims, type TokenOp } from '@kofn/shared';

export type KeySource = JWTVerifyGetKey | CryptoKey | KeyObject;

export interface Capability extends CapabilityClaims {
  jti: string;
  sub: string | undefined;
}

const INVALID = 'Invalid capability token.';

function mapJoseError(err: unknown): KofnError {
  if (hasErrorCode(err)) return new KofnError(err.code, err.message);
  const e = err as { code?: string; claim?: string; reason?: string };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      // jose 6 reports both a passed "exp" and an "iat" older than maxTokenAge this way.
      return new KofnError('TOKEN_EXPIRED', 'The capability token has expired.');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      // A required claim that is absent (exp, iat, jti, iss, aud) makes a malformed token, whichever it is.
      if (e.reason === 'missing') return new KofnError('TOKEN_INVALID', INVALID);
      // "iat" fails this way only when it lies in the future (beyond the clock tolerance): like "nbf", the
      // coordinator's clock is ahead, and a fresh token would not help (TOKEN_EXPIRED asks for one).
      if (e.claim === 'nbf' || e.claim === 'iat') return new KofnError('TOKEN_NOT_YET_VALID', 'The capability token is not valid yet.');
      if (e.claim === 'aud') return new KofnError('TOKEN_WRONG_AUDIENCE', 'The capability token is for another storage server.');
      return new KofnError('TOKEN_INVALID', INVALID);
    case 'ERR_JWKS_TIMEOUT':
      return new KofnError('UNAVAILABLE', 'The coordinator\u2019s signing keys are unreachable.');
    default:
      // Bad signature, alg not allowed ("none", HS256 confusion), malformed JWS/JWT, unknown key id.
      return new KofnError('TOKEN_INVALID', INVALID);
  }
}

/**
 * RFC 7515 §2 / RFC 4648 §3.5: a JWS segment is base64url without padding, and its unused low bits
 * must be zero. Node's decoder ignores those bits (and a dangling sixth bit group), so without this
 * check one signature had several spellings (issue #13 item 12): a relay or proxy keying replay or
 * revocation on the token text would see "another" token. Re-encoding what was decoded must give the
 * segment back exactly.
 */
function isCanonicalBase64url(segment: string): boolean {
  return Buffer.from(segment, 'base64url').toString('base64url') === segment;
}

/** jose's clock tolerance below, in seconds: a token is accepted until `exp + CLOCK_TOLERANCE_S`. */
const CLOCK_TOLERANCE_S = 5;
/** Verified tokens remembered per key source and relay id; the oldest is dropped when full. */
export const MAX_CACHED_TOKENS = 1024;
/**
 * A remembered verification is reused at most this long, even when the token lives longer: a key the
 * coordinator withdrew from its JWKS stops verifying new requests within a minute, not at the token's end.
 */
const CACHE_TTL_S = 60;

interface Verified {
  cap: Capability;
  /** Epoch second from which the entry is no longer used (then jose verifies again and answers). */
  until: number;
}

/**
 * Verified capabilities by key source, then by `<relay id> <Authorization header>` (issue #14): an upload
 * of a file sends one token with every chunk, and verifying its Ed25519 signature again for each was a
 * visible share of a chunk PUT's CPU. Only successes are kept, each no longer than jose would still accept
 * the token (`exp` plus the clock tolerance) and never longer than CACHE_TTL_S; a token is bound to its
 * key source and audience by the keys, so another relay or key set never sees this one's entries. Replay
 * semantics are unchanged: a relay never refused a token for having been used before, it only checks scope
 * and lifetime, and both still hold for a cached token.
 */
const verified = new WeakMap<object, Map<string, Verified>>();

const nowS = (): number => Math.floor(Date.now() / 1000);

function cached(key: KeySource, cacheKey: string): Capability | undefined {
  const entries = verified.get(key);
  const hit = entries?.get(cacheKey);
  if (!entries || !hit) return undefined;
  if (nowS() < hit.until) return hit.cap;
  entries.delete(cacheKey);
  return undefined;
}

function remember(key: KeySource, cacheKey: string, cap: Capability, exp: number): void {
  let entries = verified.get(key);
  if (!entries) {
    entries = new Map();
    verified.set(key, entries);
  }
  // Map keeps insertion order: the first key is the oldest entry.
  const oldest = entries.size >= MAX_CACHED_TOKENS ? entries.keys().next() : undefined;
  if (oldest && !oldest.done) entries.delete(oldest.value);
  entries.set(cacheKey, { cap, until: Math.min(exp + CLOCK_TOLERANCE_S, nowS() + CACHE_TTL_S) });
}

/** Entries remembered for `key` (tests). */
export function cachedTokens(key: KeySource): number {
  return verified.get(key)?.size ?? 0;
}

/**
 * The capability for `authorization` if this relay verified that header with `key` before and the entry is
 * still valid, else undefined; never verifies (synchronous). The chunk fast path (fast-chunks.ts) takes
 * only tokens found here and leaves every other request, and so every token error, to the Hono routes.
 */
export function cachedCapability(authorization: string | undefined, key: KeySource, relayId: string): Capability | undefined {
  if (!authorization || authorization.length > MAX_TOKEN_BYTES) return undefined;
  return cached(key, `${relayId} ${authorization}`);
}

export async function verifyCapability(authorization: string | undefined, key: KeySource, relayId: string): Promise<Capability> {
  if (!authorization) throw new KofnError('TOKEN_MISSING', 'A capability token is required.');
  if (authorization.length > MAX_TOKEN_BYTES) throw new KofnError('TOKEN_INVALID', INVALID);
  const cacheKey = `${relayId} ${authorization}`;
  const hit = cached(key, cacheKey);
  if (hit) return hit;
  const m = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(authorization);
  if (!m) throw new KofnError('TOKEN_INVALID', INVALID);
  if (!m[1]!.split('.').every(isCanonicalBase64url)) throw new KofnError('TOKEN_INVALID', INVALID);
  try {
    const { payload } = await jwtVerify(m[1]!, key as CryptoKey, {
      algorithms: ['EdDSA', 'Ed25519'],
      issuer: TOKEN_ISSUER,
      audience: relayId,
      requiredClaims: ['exp', 'iat', 'jti'],
      maxTokenAge: MAX_TOKEN_LIFETIME_S + 60,
      clockTolerance: CLOCK_TOLERANCE_S
    });
    if ((payload.exp as number) - (payload.iat as number) > MAX_TOKEN_LIFETIME_S) throw new KofnError('TOKEN_INVALID', INVALID);
    if (typeof payload.jti !== 'string') throw new KofnError('TOKEN_INVALID', INVALID);
    // Frozen: every request with this token shares the object.
    const cap: Capability = Object.freeze({ ...parseCapabilityClaims(payload), jti: payload.jti, sub: payload.sub });
    remember(key, cacheKey, cap, payload.exp as number);
    return cap;
  } catch (err) {
    throw mapJoseError(err);
  }
}

/**
 * Checks that a verified capability covers this operation on this file, and for a chunk op this chunk.
 * Whole-file ops ("list", "delete_file") take no index; a chunk op without an index is refused, so a
 * route can never skip the chunk range by accident (issue #13 item 9).
 */
export function requireScope(cap: Capability, op: TokenOp, fileId: string, index?: number): void {
  const wholeFile = WHOLE_FILE_OPS.includes(op);
  const inRange = wholeFile ? index === undefined : index !== undefined && index >= cap.chunks[0] && index <= cap.chunks[1];
  if (cap.op !== op || cap.fid !== fileId || !inRange) {
    throw new KofnError('TOKEN_OUT_OF_SCOPE', 'The capability token does not allow this operation.');
  }
}
