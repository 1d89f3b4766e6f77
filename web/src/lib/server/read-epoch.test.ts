/**
 * read-epoch.ts: which epoch a running retrieval's fresh read tokens name (#15). A retrieval keeps the epoch
 * it started on while the relays keep it (RENEWAL_GRACE_MS after the switch), with tokens that end before
 * the drop; then EPOCH_GONE. Pure: the database and relays are in capabilities.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { thrownCode } from '@kofn/shared/testing';
import { DROP_MARGIN_S, MIN_OLD_EPOCH_TTL_S, RENEWAL_GRACE_MS, readEpoch } from './read-epoch.js';
import { loadConfig } from './config.js';

const TTL = 15 * 60;
const switched = new Date('2026-12-06T12:00:00Z');
const renewed = { epoch: 3, lastRenewalAt: switched };
const at = (ms: number) => new Date(switched.getTime() + ms);

describe('readEpoch', () => {
  it('a new retrieval, or one asking for the current epoch, reads the current epoch with the configured lifetime', () => {
    expect(readEpoch(renewed, undefined, TTL, at(0))).toEqual({ epoch: 3, ttl: TTL });
    expect(readEpoch(renewed, 3, TTL, at(0))).toEqual({ epoch: 3, ttl: TTL });
    expect(readEpoch({ epoch: 0, lastRenewalAt: null }, 0, 10, at(0))).toEqual({ epoch: 0, ttl: 10 });
  });

  it('the epoch before the switch is read with tokens that end DROP_MARGIN_S before the drop', () => {
    expect(readEpoch(renewed, 2, TTL, at(0))).toEqual({ epoch: 2, ttl: TTL });
    expect(readEpoch(renewed, 2, 10, at(5 * 60_000))).toEqual({ epoch: 2, ttl: 10 });
    // 10 minutes after the switch, a 15-minute token would outlive the drop (16 minutes): it is shortened.
    const late = readEpoch(renewed, 2, TTL, at(10 * 60_000));
    expect(late.epoch).toBe(2);
    expect(late.ttl).toBe(RENEWAL_GRACE_MS / 1000 - 10 * 60 - DROP_MARGIN_S);
    const ends = at(10 * 60_000).getTime() + late.ttl * 1000;
    expect(ends).toBeLessThanOrEqual(switched.getTime() + RENEWAL_GRACE_MS - DROP_MARGIN_S * 1000);
  });

  it('EPOCH_GONE once a token for the old epoch would be shorter than the shortest token, or would outlive the drop', () => {
    const lastMs = RENEWAL_GRACE_MS - (DROP_MARGIN_S + MIN_OLD_EPOCH_TTL_S) * 1000;
    expect(readEpoch(renewed, 2, TTL, at(lastMs)).ttl).toBe(MIN_OLD_EPOCH_TTL_S);
    expect(thrownCode(() => readEpoch(renewed, 2, TTL, at(lastMs + 1000)))).toBe('EPOCH_GONE');
    expect(thrownCode(() => readEpoch(renewed, 2, TTL, at(RENEWAL_GRACE_MS + 1)))).toBe('EPOCH_GONE');
  });

  it('EPOCH_GONE for epochs older than the one before, later than the current one, or a file never renewed', () => {
    expect(thrownCode(() => readEpoch(renewed, 1, TTL, at(0)))).toBe('EPOCH_GONE');
    expect(thrownCode(() => readEpoch(renewed, 0, TTL, at(0)))).toBe('EPOCH_GONE');
    expect(thrownCode(() => readEpoch(renewed, 4, TTL, at(0)))).toBe('EPOCH_GONE');
    expect(thrownCode(() => readEpoch({ epoch: 1, lastRenewalAt: null }, 0, TTL, at(0)))).toBe('EPOCH_GONE');
  });
});

describe('the grace before the drop: the product’s, and the shorter one only a build made for tests honours', () => {
  it('a shorter grace (config renewalGraceMs) moves the end of old-epoch tokens with it', () => {
    const grace = 120_000;
    expect(readEpoch(renewed, 2, 10, at(0), grace)).toEqual({ epoch: 2, ttl: 10 });
    // 120 s grace: old-epoch tokens end DROP_MARGIN_S before the drop, so the last is minted 50 s after the switch.
    expect(readEpoch(renewed, 2, TTL, at(40_000), grace).ttl).toBe(20);
    expect(thrownCode(() => readEpoch(renewed, 2, TTL, at(51_000), grace))).toBe('EPOCH_GONE');
    // Below DROP_MARGIN_S + MIN_OLD_EPOCH_TTL_S none is minted at all: a download hears EPOCH_GONE at its next renewal.
    expect(thrownCode(() => readEpoch(renewed, 2, 10, at(0), 30_000))).toBe('EPOCH_GONE');
  });

  it('KOFN_TEST_RENEWAL_GRACE_SECONDS is honoured only by a build made for tests, and must outlast the token lifetime', () => {
    const env = { KOFN_TOKEN_TTL_SECONDS: '10', KOFN_TEST_RENEWAL_GRACE_SECONDS: '20' };
    expect(loadConfig(env, true).renewalGraceMs).toBe(20_000);
    // security: a production build ignores it (the grace is what makes every token of the old epoch end first).
    expect(loadConfig(env, false).renewalGraceMs).toBe(RENEWAL_GRACE_MS);
    expect(loadConfig({}, true).renewalGraceMs).toBe(RENEWAL_GRACE_MS);
    expect(loadConfig({ ...env, KOFN_TEST_RENEWAL_GRACE_SECONDS: '' }, true).renewalGraceMs).toBe(RENEWAL_GRACE_MS);
    // Tokens minted before the switch (10 s here) plus the relays' 5 s tolerance must end before the drop.
    for (const bad of ['15', '14', '2.5', 'soon', '-20', String(RENEWAL_GRACE_MS / 1000 + 1)]) {
      expect(
        thrownCode(() => loadConfig({ ...env, KOFN_TEST_RENEWAL_GRACE_SECONDS: bad }, true)),
        bad
      ).toBe('INVALID_ARGUMENT');
    }
    expect(loadConfig({ ...env, KOFN_TEST_RENEWAL_GRACE_SECONDS: '16' }, true).renewalGraceMs).toBe(16_000);
    // With the default 15-minute tokens, a grace shorter than that is refused.
    expect(thrownCode(() => loadConfig({ KOFN_TEST_RENEWAL_GRACE_SECONDS: '600' }, true))).toBe('INVALID_ARGUMENT');
  });
});
