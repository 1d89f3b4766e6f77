/**
 * Which accounts this browser has offered the help tour to (issue #17), kept in a cookie besides
 * localStorage so the server can render the offer, or leave it out, in the first paint. Decided after
 * hydration from localStorage alone, the offer appeared above the dashboard and pushed all of it down
 * (layout shift 0.07 at 1,280 px and 0.20 at 390 px on every visit until answered;
 * e2e/tests/layout-shift.spec.ts). Not a secret: the e-mail addresses of accounts used in this browser,
 * sent only to the coordinator, which knows them.
 */

export const TOUR_COOKIE = 'kofn_tour_offered';
/** Accounts remembered: a shared computer's last few, enough to never nag; a cookie stays well under 4 KB. */
export const TOUR_COOKIE_ACCOUNTS = 16;
const SEPARATOR = '\n';

/** The accounts in the cookie's value (as `document.cookie` or the server's cookie parser gives it, encoded or not). */
export function offeredAccounts(value: string | undefined): string[] {
  if (!value) return [];
  let decoded: string;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    // A value this code did not write (malformed escape): nothing remembered, so the offer shows once more.
    return [];
  }
  return decoded.split(SEPARATOR).filter((a) => a !== '');
}

/** The cookie's new value with `account` added (most recent last; the oldest dropped past the limit), encoded. */
export function withAccount(value: string | undefined, account: string): string {
  const accounts = offeredAccounts(value).filter((a) => a !== account);
  accounts.push(account);
  return encodeURIComponent(accounts.slice(-TOUR_COOKIE_ACCOUNTS).join(SEPARATOR));
}
