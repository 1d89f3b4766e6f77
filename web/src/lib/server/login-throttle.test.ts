import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { loginFailures } from './db/schema.js';
import { createUser, login } from './auth.js';
import { ACCOUNT_CEILING, ACCOUNT_WINDOW_MS, MAX_DELAY_MS, PAIR_FREE_ATTEMPTS, PAIR_MEMORY_MS, addressKey, delayAfter, loginFailed, purgeLoginThrottle, takeAttempt } from './login-throttle.js';

interface Outcome {
  code: string | undefined;
  retryAfterSeconds: number | undefined;
}

const outcome = async (p: Promise<unknown>): Promise<Outcome> => {
  try {
    await p;
    return { code: undefined, retryAfterSeconds: undefined };
  } catch (err) {
    const e = err as { code?: string; retryAfterSeconds?: number };
    return { code: e.code, retryAfterSeconds: e.retryAfterSeconds };
  }
};

const PASSWORD = 'the right password';
const T0 = new Date('2026-06-01T12:00:00Z');
const after = (ms: number, from = T0) => new Date(from.getTime() + ms);

describe('addressKey', () => {
  it('keeps IPv4, unwraps IPv4-mapped IPv6 and groups IPv6 by /64', () => {
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('2001:DB8:1:2::9')).toBe(addressKey('2001:db8:1:2:ffff::'));
  });

  it('delays double from the first attempt past the free ones, capped', () => {
    expect([4, 5, 6, 7, 8].map((n) => delayAfter(n, 5))).toEqual([0, 1000, 2000, 4000, 8000]);
    expect(delayAfter(60, 5)).toBe(MAX_DELAY_MS);
    expect(delayAfter(1, 1)).toBe(1000);
  });
});

describeDatabases('login throttle on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  beforeAll(async () => {
    database = await open();
    await createUser(database.db, { email: 'victim@x.test', displayName: 'V', password: PASSWORD, role: 'user' }, 100);
  });
  afterAll(async () => {
    await database.drop();
  });

  it('40 parallel guesses from one address: only the free attempts reach the password check', async () => {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => outcome(login(database.db, 'victim@x.test', `guess ${i}`, '198.51.100.1', T0))));
    expect(results.filter((r) => r.code === 'INVALID_CREDENTIALS')).toHaveLength(PAIR_FREE_ATTEMPTS);
    expect(results.filter((r) => r.code === 'RATE_LIMITED')).toHaveLength(40 - PAIR_FREE_ATTEMPTS);
    // The same race on the counter alone, for a pair of its own.
    const raced = await Promise.allSettled(Array.from({ length: 40 }, () => takeAttempt(database.db, 'race@x.test', '198.51.100.2', T0)));
    expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(PAIR_FREE_ATTEMPTS);
  });

  it('a correct password from a new address signs in while another address hammers the account', async () => {
    const attacker = '203.0.113.66';
    for (let i = 0; i < 30; i++) await outcome(login(database.db, 'victim@x.test', `hammer ${i}`, attacker, after(i * 10)));
    expect((await outcome(login(database.db, 'victim@x.test', PASSWORD, attacker, after(400)))).code).toBe('RATE_LIMITED');
    const s = await login(database.db, 'victim@x.test', PASSWORD, '192.0.2.44', after(500));
    expect(s.user.email).toBe('victim@x.test');
    // Behind the same NAT or proxy address, other accounts are untouched too.
    await createUser(database.db, { email: 'neighbour@x.test', displayName: 'N', password: PASSWORD, role: 'user' }, 100);
    expect((await login(database.db, 'neighbour@x.test', PASSWORD, attacker, after(600))).user.email).toBe('neighbour@x.test');
  });

  it('delays double after the free attempts, answer Retry-After, and are capped', async () => {
    const email = 'slow@x.test';
    const addr = '192.0.2.50';
    let now = T0;
    for (let i = 0; i < PAIR_FREE_ATTEMPTS; i++) {
      await takeAttempt(database.db, email, addr, now);
      await loginFailed(database.db, email, now);
    }
    const waits: number[] = [];
    for (let step = 0; step < 12; step++) {
      const refused = await outcome(takeAttempt(database.db, email, addr, now));
      expect(refused.code).toBe('RATE_LIMITED');
      waits.push(refused.retryAfterSeconds!);
      // One millisecond early is still refused; on time the attempt is counted.
      expect((await outcome(takeAttempt(database.db, email, addr, after(refused.retryAfterSeconds! * 1000 - 1, now)))).code).toBe('RATE_LIMITED');
      now = after(refused.retryAfterSeconds! * 1000, now);
      expect((await outcome(takeAttempt(database.db, email, addr, now))).code).toBeUndefined();
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
  });

  it('a pair forgets its failures after a day without attempts, and at a successful sign-in', async () => {
    const addr = '192.0.2.60';
    for (let i = 0; i < PAIR_FREE_ATTEMPTS; i++) await outcome(login(database.db, 'victim@x.test', `typo ${i}`, addr, T0));
    expect((await outcome(login(database.db, 'victim@x.test', PASSWORD, addr, after(500)))).code).toBe('RATE_LIMITED');
    // Just inside the memory the pair still counts: the next attempt runs, the one after waits 2 s.
    const t1 = after(PAIR_MEMORY_MS - 1000);
    expect((await outcome(login(database.db, 'victim@x.test', 'typo 5', addr, t1))).code).toBe('INVALID_CREDENTIALS');
    expect(await outcome(login(database.db, 'victim@x.test', PASSWORD, addr, t1))).toEqual({ code: 'RATE_LIMITED', retryAfterSeconds: 2 });
    // A day after its last attempt the pair has its free attempts again.
    const later = after(PAIR_MEMORY_MS + 1, t1);
    for (let i = 0; i < PAIR_FREE_ATTEMPTS - 1; i++) expect((await outcome(login(database.db, 'victim@x.test', `typo ${i}`, addr, later))).code).toBe('INVALID_CREDENTIALS');
    expect((await login(database.db, 'victim@x.test', PASSWORD, addr, later)).user.email).toBe('victim@x.test');
    // After the success the pair is clean: the next typos are free again.
    for (let i = 0; i < PAIR_FREE_ATTEMPTS; i++) expect((await outcome(login(database.db, 'victim@x.test', `again ${i}`, addr, later))).code).toBe('INVALID_CREDENTIALS');
  });

  it('past the account ceiling each address gets one guess then delays, yet a correct password from a new address signs in', async () => {
    const email = 'botnet-target@x.test';
    await createUser(database.db, { email, displayName: 'B', password: PASSWORD, role: 'user' }, 1000);
    // A distributed attack: one failure from each of many addresses (the counter path, without argon2 per guess).
    for (let i = 0; i < ACCOUNT_CEILING; i++) {
      const addr = `10.20.${i >> 8}.${i & 255}`;
      await takeAttempt(database.db, email, addr, T0);
      await loginFailed(database.db, email, T0);
    }
    // A further attacking address: one guess, then it waits.
    expect((await outcome(login(database.db, email, 'botnet guess', '10.30.0.1', after(10)))).code).toBe('INVALID_CREDENTIALS');
    const second = await outcome(login(database.db, email, 'botnet guess 2', '10.30.0.1', after(20)));
    expect(second).toEqual({ code: 'RATE_LIMITED', retryAfterSeconds: 1 });
    // Slowed, not locked: the owner from a fresh address, and even after one typo, gets in.
    const owner = '192.0.2.77';
    expect((await outcome(login(database.db, email, 'typo', owner, after(30)))).code).toBe('INVALID_CREDENTIALS');
    expect((await outcome(login(database.db, email, PASSWORD, owner, after(40)))).code).toBe('RATE_LIMITED');
    expect((await login(database.db, email, PASSWORD, owner, after(1040))).user.email).toBe(email);
    expect((await login(database.db, email, PASSWORD, '192.0.2.78', after(1050))).user.email).toBe(email);
    // Once the account window has passed, pairs have their free attempts again.
    const calm = after(ACCOUNT_WINDOW_MS + 1);
    for (let i = 0; i < PAIR_FREE_ATTEMPTS; i++) expect((await outcome(takeAttempt(database.db, email, '10.40.0.1', calm))).code).toBeUndefined();
  });

  it('addresses of one IPv6 /64 share a pair; unknown e-mails are throttled like real ones', async () => {
    for (let i = 0; i < PAIR_FREE_ATTEMPTS; i++) await outcome(login(database.db, 'victim@x.test', `v6 ${i}`, `2001:db8:5:6::${i + 1}`, T0));
    expect((await outcome(login(database.db, 'victim@x.test', 'v6 next', '2001:db8:5:6:ffff::1', T0))).code).toBe('RATE_LIMITED');
    expect((await outcome(login(database.db, 'victim@x.test', PASSWORD, '2001:db8:5:7::1', T0))).code).toBeUndefined();
    const unknown: Outcome[] = [];
    const known: Outcome[] = [];
    for (let i = 0; i < PAIR_FREE_ATTEMPTS + 2; i++) {
      unknown.push(await outcome(login(database.db, 'nobody@x.test', `x ${i}`, '192.0.2.90', T0)));
      known.push(await outcome(login(database.db, 'victim@x.test', `x ${i}`, '192.0.2.90', T0)));
    }
    expect(unknown).toEqual(known);
  });

  it('maintenance purges rows no rule reads any more, and the old limiter keys', async () => {
    await database.db.insert(loginFailures).values({ key: 'email:old@x.test', count: 10, windowStart: T0 });
    await takeAttempt(database.db, 'purge@x.test', '192.0.2.99', T0);
    await purgeLoginThrottle(database.db, after(1000));
    expect(await database.db.select().from(loginFailures).where(eq(loginFailures.key, 'email:old@x.test'))).toEqual([]);
    expect(await database.db.select().from(loginFailures).where(eq(loginFailures.key, 'acct:purge@x.test|192.0.2.99'))).toHaveLength(1);
    await purgeLoginThrottle(database.db, after(PAIR_MEMORY_MS + 1000));
    expect(await database.db.select().from(loginFailures).where(eq(loginFailures.key, 'acct:purge@x.test|192.0.2.99'))).toEqual([]);
  });
});
