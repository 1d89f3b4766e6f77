import { describe, expect, it } from 'vitest';
import { offeredAccounts, TOUR_COOKIE_ACCOUNTS, withAccount } from './tour-cookie';

describe('tour cookie', () => {
  it('round-trips accounts whose addresses hold characters a cookie value may not', () => {
    const first = withAccount(undefined, 'ada;x=1@kofn.test');
    const both = withAccount(first, 'bob, "b" <b>@kofn.test');
    expect(both).not.toMatch(/[;,\s"]/);
    expect(offeredAccounts(both)).toEqual(['ada;x=1@kofn.test', 'bob, "b" <b>@kofn.test']);
  });

  it('keeps each account once, the latest last', () => {
    const v = withAccount(withAccount(withAccount(undefined, 'a@k.test'), 'b@k.test'), 'a@k.test');
    expect(offeredAccounts(v)).toEqual(['b@k.test', 'a@k.test']);
  });

  it('keeps only the most recent accounts, so the cookie stays small', () => {
    let v: string | undefined;
    for (let i = 0; i < TOUR_COOKIE_ACCOUNTS + 5; i++) v = withAccount(v, `user${i}@k.test`);
    const kept = offeredAccounts(v);
    expect(kept).toHaveLength(TOUR_COOKIE_ACCOUNTS);
    expect(kept[0]).toBe('user5@k.test');
    expect(kept.at(-1)).toBe(`user${TOUR_COOKIE_ACCOUNTS + 4}@k.test`);
  });

  it('reads nothing from an empty, missing or malformed value', () => {
    expect(offeredAccounts(undefined)).toEqual([]);
    expect(offeredAccounts('')).toEqual([]);
    expect(offeredAccounts('%E0%A4%A')).toEqual([]);
  });
});
