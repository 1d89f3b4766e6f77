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

export async function verifyCapability(authorization: string | undefined, key: KeySource, relayId: string): Promise<Capability> {
  if (!authorization) throw new KofnError('TOKEN_MISSING', 'A capability token is required.');
  if (authorization.length > MAX_TOKEN_BYTES) throw new KofnError('TOKEN_INVALID', INVALID);
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
      clockTolerance: 5
    });
    if ((payload.exp as number) - (payload.iat as number) > MAX_TOKEN_LIFETIME_S) throw new KofnError('TOKEN_INVALID', INVALID);
    if (typeof payload.jti !== 'string') throw new KofnError('TOKEN_INVALID', INVALID);
    return { ...parseCapabilityClaims(payload), jti: payload.jti, sub: payload.sub };
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
