/**
 * Renewing a capability token before it expires (issue #14: "protect and retrieve renew before expiry and on
 * TOKEN_EXPIRED"). The relay client asks its token callback for a fresh token (`refresh`) when the one it
 * holds has less than `renewAheadMs(lifetime)` left, so no request starts with a token about to expire; a
 * TOKEN_EXPIRED answer still renews, for what this estimate misses.
 *
 * The token is read, not verified (relays verify it; a forged one only makes this client renew sooner or
 * later): `iat` and `exp` give its lifetime and its expiry on the coordinator's clock. This clock may be
 * ahead of the coordinator's: then a token just fetched would already look about to expire, and every
 * request would fetch another. So when a token fresh from the callback still looks about to expire, the
 * clock learns how far ahead it is (now - iat: an upper bound, as the token was minted before it arrived)
 * and counts expiries that much later from then on. A clock behind the coordinator's renews late, and the
 * relay's TOKEN_EXPIRED covers that. The first estimate of a token seen late (a worker started mid-transfer
 * given a token fetched long before) is still right: it goes by `exp`, not by when the token was first seen.
 */
import { fromBase64url } from '../link-proof.js';

/** Renewing at most this long before expiry: a minute covers a request's headers and retries (relay-client.ts). */
export const MAX_RENEW_AHEAD_MS = 60_000;

/** How long before its expiry a token of this lifetime is renewed: a quarter of its life, at most a minute. */
export function renewAheadMs(lifetimeMs: number): number {
  return Math.min(MAX_RENEW_AHEAD_MS, lifetimeMs / 4);
}

/** A token is a few hundred bytes (MAX_TOKEN_BYTES is the relays' bound); a longer string is not read. */
const MAX_READ_BYTES = 4096;

/** The timing claims of a JWT-shaped token (seconds), or undefined for anything else (then nothing is renewed ahead). */
export function tokenTiming(token: string): { iat: number; exp: number } | undefined {
  if (token.length > MAX_READ_BYTES) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === undefined) return undefined;
  try {
    const claims = JSON.parse(new TextDecoder().decode(fromBase64url(parts[1]))) as { iat?: unknown; exp?: unknown } | null;
    const { iat, exp } = claims ?? {};
    if (typeof iat !== 'number' || typeof exp !== 'number' || !Number.isFinite(iat) || !Number.isFinite(exp) || !(exp > iat)) return undefined;
    return { iat, exp };
  } catch {
    return undefined;
  }
}

/** When tokens are renewed, on one clock (ms). One per process by default; tests inject their own clock. */
export class TokenClock {
  /** How far this clock is ahead of the coordinator's, as learned from fresh tokens (0 until one says so). */
  aheadMs = 0;

  constructor(readonly now: () => number = Date.now) {}

  /** True when `token` should be replaced before a request that starts now. */
  needsRenewal(token: string): boolean {
    const t = tokenTiming(token);
    if (!t) return false;
    return t.exp * 1000 + this.aheadMs - this.now() < renewAheadMs((t.exp - t.iat) * 1000);
  }

  /**
   * Called with the token the callback gave when asked for a fresh one in place of `old`: if even a newer
   * token looks about to expire, this clock is ahead. A callback that cannot renew (it gives the same token,
   * or an older one) teaches nothing.
   */
  noteFresh(token: string, old: string): void {
    const t = tokenTiming(token);
    const o = tokenTiming(old);
    if (!t || token === old || (o && t.iat < o.iat) || !this.needsRenewal(token)) return;
    this.aheadMs = Math.max(this.aheadMs, this.now() - t.iat * 1000);
  }
}

/** The clock relay clients use unless given one. */
export const processTokenClock = new TokenClock();
