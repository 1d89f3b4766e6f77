/**
 * Password guessing throttle (issue #13, item 7). The old limiter blocked every login, right password
 * included, once 10 failures came from one address or for one e-mail, and checked before it counted
 * (12-17 of 40 parallel guesses got through a limit of 10). Anyone could lock any chosen account, and
 * behind a proxy where every client shares one address, everyone.
 *
 * Design, after OWASP's Authentication Cheat Sheet ("Login Throttling", "Account Lockout") and the
 * per-(account, source) throttling large services describe:
 * - The unit is the pair (account, client address). A pair gets PAIR_FREE_ATTEMPTS failed attempts; from
 *   then on each further attempt must wait BASE_DELAY_MS * 2^(failures - free), capped at MAX_DELAY_MS.
 *   A pair forgets its failures after PAIR_MEMORY_MS without an attempt, or at a successful sign-in.
 * - A pair with no failures is never refused: a correct password from a new address signs in whatever
 *   other addresses do to the account.
 * - Per account, failures from all addresses are counted in ACCOUNT_WINDOW_MS windows. Past
 *   ACCOUNT_CEILING (a distributed guessing attack) the free attempts of every pair drop to one, so each
 *   attacking address gets one guess and then growing delays; the account is slowed, never locked.
 * - Counting is one atomic upsert per attempt, taken before the password is checked: the row lock of
 *   `INSERT ... ON CONFLICT DO UPDATE ... WHERE` serialises parallel attempts on one pair, and an attempt
 *   whose delay has not passed updates nothing, returns no row, and is refused without checking the
 *   password. So 40 parallel guesses get exactly the free attempts through, on PostgreSQL and PGlite.
 *
 * Rows live in `login_failures` (key, count, window_start) without a migration: for a pair key
 * `acct:<email>|<address>` the count is its attempts since the last success and window_start the time of
 * the last attempt; for an account key `acct-all:<email>` the count is failures in the window that began
 * at window_start. Unknown e-mails are throttled exactly like real ones, so the throttle tells nothing
 * about which accounts exist.
 *
 * The client address is SvelteKit's `getClientAddress()`: behind a reverse proxy the operator must set
 * adapter-node's ADDRESS_HEADER (and XFF_DEPTH for X-Forwarded-For), or every client shares the proxy's
 * address and therefore one pair per account (README, "Behind a reverse proxy").
 */
import { isIPv6 } from 'node:net';
import { eq, lt, or, sql } from 'drizzle-orm';
import { KofnError } from '@kofn/shared';
import type { Db } from './db/index.js';
import { loginFailures } from './db/schema.js';

export const PAIR_FREE_ATTEMPTS = 5;
export const BASE_DELAY_MS = 1000;
/** 1 s doubling reaches 15 minutes after ten more failures; an address then gets 4 guesses an hour. */
export const MAX_DELAY_MS = 15 * 60_000;
export const PAIR_MEMORY_MS = 24 * 3600_000;
export const ACCOUNT_WINDOW_MS = 3600_000;
/** Far above what one person mistypes in an hour, far below what a guessing botnet sends. */
export const ACCOUNT_CEILING = 100;

/** RATE_LIMITED with the wait the HTTP layer sends as Retry-After. */
export class ThrottledError extends KofnError {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super('RATE_LIMITED', `Too many failed sign-ins from this address; try again in ${retryAfterSeconds} seconds.`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * The throttled unit for an address: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 by its /64, since one
 * subscriber usually holds a whole /64 and could otherwise rotate through 2^64 fresh pairs.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

const pairKey = (email: string, address: string) => `acct:${email}|${addressKey(address)}`;
const accountKey = (email: string) => `acct-all:${email}`;
const at = (d: Date) => sql`${d.toISOString()}::timestamptz`;

/** The wait after `attempts` counted attempts of a pair whose first `free` cost nothing. */
export function delayAfter(attempts: number, free: number): number {
  if (attempts < free) return 0;
  return Math.min(BASE_DELAY_MS * 2 ** (attempts - free), MAX_DELAY_MS);
}

async function accountFailures(db: Db, email: string, now: Date): Promise<number> {
  const [row] = await db
    .select()
    .from(loginFailures)
    .where(eq(loginFailures.key, accountKey(email)));
  if (!row || now.getTime() - row.windowStart.getTime() >= ACCOUNT_WINDOW_MS) return 0;
  return row.count;
}

/**
 * Counts one attempt of (email, address), or refuses it with ThrottledError when the pair's delay has
 * not passed. Call before checking the password; call `loginSucceeded` or `loginFailed` after.
 */
export async function takeAttempt(db: Db, email: string, address: string, now: Date): Promise<void> {
  // Read, not locked: the ceiling only lowers the free attempts, so a few racing attempts past it matter
  // as little as a few before it.
  const free = (await accountFailures(db, email, now)) >= ACCOUNT_CEILING ? 1 : PAIR_FREE_ATTEMPTS;
  const key = pairKey(email, address);
  const forgotten = sql`${loginFailures.windowStart} <= ${at(new Date(now.getTime() - PAIR_MEMORY_MS))}`;
  // Same formula as delayAfter, in SQL so the decision and the count are one statement.
  const wait = sql`least(${BASE_DELAY_MS}::float8 * power(2::float8, (${loginFailures.count} - ${free}::int)::float8), ${MAX_DELAY_MS}::float8) * interval '1 millisecond'`;
  const counted = await db
    .insert(loginFailures)
    .values({ key, count: 1, windowStart: now })
    .onConflictDoUpdate({
      target: loginFailures.key,
      set: { count: sql`case when ${forgotten} then 1 else ${loginFailures.count} + 1 end`, windowStart: at(now) },
      setWhere: sql`${forgotten} or ${loginFailures.count} < ${free}::int or ${loginFailures.windowStart} + ${wait} <= ${at(now)}`
    })
    .returning({ count: loginFailures.count });
  if (counted.length > 0) return;
  const [row] = await db.select().from(loginFailures).where(eq(loginFailures.key, key));
  const retryAt = (row?.windowStart.getTime() ?? now.getTime()) + delayAfter(row?.count ?? 0, free);
  throw new ThrottledError(Math.max(1, Math.ceil((retryAt - now.getTime()) / 1000)));
}

/** A correct password: the pair starts clean. The account's count stays, as an attack may go on. */
export async function loginSucceeded(db: Db, email: string, address: string): Promise<void> {
  await db.delete(loginFailures).where(eq(loginFailures.key, pairKey(email, address)));
}

/** A wrong password (the pair's attempt is already counted): one more failure for the account. */
export async function loginFailed(db: Db, email: string, now: Date): Promise<void> {
  const windowStart = at(new Date(now.getTime() - ACCOUNT_WINDOW_MS));
  await db
    .insert(loginFailures)
    .values({ key: accountKey(email), count: 1, windowStart: now })
    .onConflictDoUpdate({
      target: loginFailures.key,
      set: {
        count: sql`case when ${loginFailures.windowStart} <= ${windowStart} then 1 else ${loginFailures.count} + 1 end`,
        windowStart: sql`case when ${loginFailures.windowStart} <= ${windowStart} then ${at(now)} else ${loginFailures.windowStart} end`
      }
    });
}

/** Maintenance: rows no rule reads any more (pairs past their memory, accounts past their window). */
export async function purgeLoginThrottle(db: Db, now = new Date()): Promise<void> {
  const oldest = new Date(now.getTime() - Math.max(PAIR_MEMORY_MS, ACCOUNT_WINDOW_MS));
  // Keys of the old limiter (`email:`, `client:`) are read by nothing now.
  await db.delete(loginFailures).where(or(lt(loginFailures.windowStart, oldest), sql`${loginFailures.key} not like 'acct%'`));
}
