/**
 * Renewing tokens ahead of expiry (issue #14): the margin, reading a token's timing claims, and when a token
 * is renewed on a clock that agrees with the coordinator's, one that is ahead (learned from fresh tokens) and
 * one that is behind, with an injected clock (ms).
 */
import { describe, expect, it } from 'vitest';
import { base64url } from '../link-proof.js';
import { MAX_RENEW_AHEAD_MS, TokenClock, renewAheadMs, tokenTiming } from './token-expiry.js';

const enc = (v: unknown) => base64url(new TextEncoder().encode(JSON.stringify(v)));
/** A JWT-shaped token (the signature is not checked here: relays check it). */
const jwt = (claims: Record<string, unknown>): string => `${enc({ alg: 'EdDSA', typ: 'JWT' })}.${enc(claims)}.${'s'.repeat(86)}`;
/** A 10 s token (the e2e token-lifetime test's) minted at `iat` seconds. */
const tenSeconds = (iat: number) => jwt({ jti: `j${iat}`, iat, exp: iat + 10 });

function clockAt(ms: number): { clock: TokenClock; set: (ms: number) => void } {
  let now = ms;
  return { clock: new TokenClock(() => now), set: (t) => (now = t) };
}

describe('renewAheadMs', () => {
  it('is a quarter of the lifetime, at most a minute', () => {
    expect(renewAheadMs(10_000)).toBe(2_500);
    expect(renewAheadMs(120_000)).toBe(30_000);
    expect(renewAheadMs(15 * 60_000)).toBe(MAX_RENEW_AHEAD_MS);
  });
});

describe('tokenTiming', () => {
  it('reads iat and exp of a JWT-shaped token', () => {
    expect(tokenTiming(jwt({ jti: 'j', iat: 100, exp: 110, aud: 'r' }))).toEqual({ iat: 100, exp: 110 });
  });

  it('gives undefined for anything else, so nothing is renewed ahead', () => {
    expect(tokenTiming('opaque')).toBeUndefined();
    expect(tokenTiming('a.b.c')).toBeUndefined(); // not base64url JSON
    expect(tokenTiming(jwt({ iat: 110, exp: 110 }))).toBeUndefined(); // no lifetime
    expect(tokenTiming(jwt({ iat: '100', exp: 110 }))).toBeUndefined();
    expect(tokenTiming(jwt({ iat: 100, exp: 110, pad: 'x'.repeat(5000) }))).toBeUndefined(); // too long to read
    expect(new TokenClock(() => 0).needsRenewal('opaque')).toBe(false);
  });
});

describe('TokenClock', () => {
  it('renews a 10 s token once less than 2.5 s is left, clocks agreeing', () => {
    const { clock, set } = clockAt(1_000_000);
    const t = tenSeconds(1_000);
    expect(clock.needsRenewal(t)).toBe(false);
    set(1_007_400);
    expect(clock.needsRenewal(t)).toBe(false);
    set(1_007_600);
    expect(clock.needsRenewal(t)).toBe(true);
  });

  it('renews a token first used long after it was minted (a worker started mid-transfer) at once', () => {
    const { clock } = clockAt(2_014_000);
    expect(clock.needsRenewal(tenSeconds(2_000))).toBe(true);
  });

  it('renews a 15-minute token one minute before it expires', () => {
    const { clock, set } = clockAt(5_000_000 + 839_000);
    const t = jwt({ iat: 5_000, exp: 5_000 + 900 });
    expect(clock.needsRenewal(t)).toBe(false);
    set(5_000_000 + 841_000);
    expect(clock.needsRenewal(t)).toBe(true);
  });

  it('learns that it is an hour ahead from a fresh token, so fresh tokens are not renewed again', () => {
    const hour = 3_600_000;
    const { clock, set } = clockAt(4_000_000 + hour);
    const old = tenSeconds(3_990);
    const fresh = tenSeconds(4_000);
    expect(clock.needsRenewal(old)).toBe(true);
    clock.noteFresh(fresh, old);
    expect(clock.aheadMs).toBe(hour);
    expect(clock.needsRenewal(fresh)).toBe(false);
    set(4_007_400 + hour);
    expect(clock.needsRenewal(fresh)).toBe(false);
    set(4_007_600 + hour);
    expect(clock.needsRenewal(fresh)).toBe(true);
  });

  it('learns nothing from a callback that cannot renew (the same or an older token), or from a token with life left', () => {
    const { clock } = clockAt(6_020_000);
    const t = tenSeconds(6_000);
    clock.noteFresh(t, t);
    clock.noteFresh(tenSeconds(5_990), t);
    expect(clock.aheadMs).toBe(0);
    clock.noteFresh(tenSeconds(6_019), t); // 9 s left: the clocks agree
    expect(clock.aheadMs).toBe(0);
  });

  it('renews late on a clock behind the coordinator (the relay then says TOKEN_EXPIRED, which renews)', () => {
    const { clock, set } = clockAt(7_000_000 - 60_000);
    const t = tenSeconds(7_000);
    set(7_007_600 - 60_000);
    expect(clock.needsRenewal(t)).toBe(false);
    set(7_007_600);
    expect(clock.needsRenewal(t)).toBe(true);
  });
});
