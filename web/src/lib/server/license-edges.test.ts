/**
 * The licence at its edges (issue #24: Stryker on license.ts): each refusal's words (the operator reads
 * them in the log to fix the file), limits at 1 and 0, the instant of expiry, several trusted keys, the
 * base64 DER key form, and the log lines of loading. No database: the licence is read from files.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LicenseClock, TIERS, UNLICENSED, effectiveLicense, loadLicense, parsePublicKey, verifyLicense } from './license.js';

const vendor = generateKeyPairSync('ed25519');
const key = vendor.publicKey;

function issue(payload: object | string, privateKey = vendor.privateKey): string {
  const bytes = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  return JSON.stringify({ license: bytes.toString('base64url'), signature: sign(null, bytes, privateKey).toString('base64url') });
}

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return `${e.code}: ${e.message}`;
  }
  return 'ok';
};

describe('licence refusals, in words an operator can act on', () => {
  it('names what is wrong with the document', () => {
    expect(refusal(() => verifyLicense('{', key))).toBe('LICENSE_INVALID: The licence file is not JSON.');
    expect(refusal(() => verifyLicense(JSON.stringify({ license: 'abc' }), key))).toBe('LICENSE_INVALID: The licence file lacks "license" or "signature".');
    expect(refusal(() => verifyLicense(JSON.stringify({ signature: 'abc' }), key))).toBe('LICENSE_INVALID: The licence file lacks "license" or "signature".');
    expect(refusal(() => verifyLicense(issue({ tier: 'Pro' }, generateKeyPairSync('ed25519').privateKey), key))).toBe('LICENSE_INVALID: The licence signature does not match the vendor key.');
    expect(refusal(() => verifyLicense(issue('not json, but signed'), key))).toBe('LICENSE_INVALID: The licence payload is not JSON.');
    expect(refusal(() => verifyLicense(issue({ tier: 'Pro', expiresAt: 'soon' }), key))).toBe('LICENSE_INVALID: Licence field "expiresAt" is not a date.');
    expect(refusal(() => verifyLicense(issue({ tier: 'Pro', expiresAt: '2020-01-01T00:00:00.000Z' }), key))).toBe('LICENSE_INVALID: The licence expired on 2020-01-01T00:00:00.000Z.');
  });

  it('names the limit that is not a positive integer, and takes 1 as the smallest', () => {
    const custom = { relays: 1, users: 1, protectedBytes: 1, maxFileSize: 1 };
    expect(verifyLicense(issue({ tier: 'Custom', limits: custom }), key).limits).toEqual(custom);
    for (const field of ['relays', 'users', 'protectedBytes', 'maxFileSize'] as const) {
      for (const bad of [0, -1, 1.5, '3', 2 ** 53]) {
        expect(refusal(() => verifyLicense(issue({ tier: 'Custom', limits: { ...custom, [field]: bad } }), key))).toBe(`LICENSE_INVALID: Licence field "limits.${field}" must be a positive integer.`);
      }
      // A Custom licence has no tier to fall back on: every limit must be given.
      const { [field]: _left, ...rest } = custom;
      expect(refusal(() => verifyLicense(issue({ tier: 'Custom', limits: rest }), key))).toBe(`LICENSE_INVALID: Licence field "limits.${field}" must be a positive integer.`);
    }
  });

  it('each tier gives its own limits, one override changes only its field, and missing text fields are empty', () => {
    for (const tier of ['Essential', 'Pro', 'Elite'] as const) {
      expect(verifyLicense(issue({ tier }), key)).toEqual({ id: '', licensee: '', tier, limits: TIERS[tier], issuedAt: '', expiresAt: null, licensed: true });
    }
    expect(verifyLicense(issue({ tier: 'Pro', limits: { users: 7 } }), key).limits).toEqual({ ...TIERS.Pro, users: 7 });
    expect(verifyLicense(issue({ tier: 'Pro', id: 'L9', licensee: 'Lab', issuedAt: '2026-01-01', expiresAt: 42 }), key)).toMatchObject({
      id: 'L9',
      licensee: 'Lab',
      issuedAt: '2026-01-01',
      expiresAt: null
    });
  });

  it('text fields given as numbers read as their digits; other types read as empty', () => {
    expect(verifyLicense(issue({ tier: 'Pro', id: 42, licensee: 7, issuedAt: 1767225600 }), key)).toMatchObject({ id: '42', licensee: '7', issuedAt: '1767225600' });
    expect(verifyLicense(issue({ tier: 'Pro', id: true, licensee: { name: 'Lab' }, issuedAt: [2026] }), key)).toMatchObject({ id: '', licensee: '', issuedAt: '' });
  });
});

describe('expiry at its instant', () => {
  const at = '2030-06-30T23:59:59.000Z';
  const lic = () => verifyLicense(issue({ id: 'E2', licensee: 'Lab', tier: 'Elite', expiresAt: at }), key, new Date('2030-01-01T00:00:00Z'));

  it('is valid at its expiry instant and expired one millisecond after', () => {
    expect(verifyLicense(issue({ tier: 'Elite', expiresAt: at }), key, new Date(at)).licensed).toBe(true);
    expect(refusal(() => verifyLicense(issue({ tier: 'Elite', expiresAt: at }), key, new Date(Date.parse(at) + 1)))).toBe(`LICENSE_INVALID: The licence expired on ${at}.`);
    expect(effectiveLicense(lic(), new Date(at)).tier).toBe('Elite');
    expect(effectiveLicense(lic(), new Date(Date.parse(at) + 1))).toEqual({
      ...UNLICENSED,
      limits: TIERS.Essential,
      id: 'E2',
      licensee: 'Lab',
      issuedAt: '',
      expiresAt: at,
      expired: true
    });
  });
});

describe('LicenseClock on the real clock (its default)', () => {
  it('keeps a licence that expires in the future, and gives Essential limits for one that expired, saying so once', () => {
    const logs: string[] = [];
    const log = { info: (m: string) => logs.push(`info ${m}`), error: (m: string) => logs.push(`error ${m}`) };
    const later = verifyLicense(issue({ id: 'F1', licensee: 'Lab', tier: 'Pro', expiresAt: '2999-01-01T00:00:00.000Z' }), key);
    expect(new LicenseClock(later, log).current()).toBe(later);
    // Verified when it was still valid (a coordinator started then), expired by now.
    const past = verifyLicense(issue({ id: 'P1', licensee: 'Lab', tier: 'Pro', expiresAt: '2021-01-01T00:00:00.000Z' }), key, new Date('2020-06-01T00:00:00Z'));
    const clock = new LicenseClock(past, log);
    expect(clock.current()).toMatchObject({ tier: 'Essential', limits: TIERS.Essential, expired: true, id: 'P1' });
    expect(clock.current().expired).toBe(true);
    expect(logs).toEqual(['error kofn: licence P1 for Lab expired on 2021-01-01T00:00:00.000Z; running with Essential limits (3 relays, 10 users, 1 TB protected, 1 GB per file).']);
  });
});

describe('vendor keys', () => {
  it('accepts a licence signed by any one of the trusted keys, and a key given as base64 DER', () => {
    const other = generateKeyPairSync('ed25519');
    const doc = issue({ tier: 'Pro' }, other.privateKey);
    expect(refusal(() => verifyLicense(doc, [key]))).toBe('LICENSE_INVALID: The licence signature does not match the vendor key.');
    expect(verifyLicense(doc, [key, other.publicKey]).tier).toBe('Pro');
    const der = other.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    expect(verifyLicense(doc, parsePublicKey(`  ${der}\n`)).tier).toBe('Pro');
    const pem = other.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(verifyLicense(doc, parsePublicKey(`\n${pem}`)).tier).toBe('Pro');
  });
});

describe('loading the licence file', () => {
  it('logs what it runs with: no licence, a licence and its limits, or a refused file and why', () => {
    const logs: string[] = [];
    const log = { info: (m: string) => logs.push(`info ${m}`), error: (m: string) => logs.push(`error ${m}`) };
    expect(loadLicense(undefined, log, [key])).toBe(UNLICENSED);
    const dir = mkdtempSync(join(tmpdir(), 'kofn-lic-edges-'));
    writeFileSync(join(dir, 'ok.json'), issue({ id: 'L1', licensee: 'ACME', tier: 'Pro' }));
    expect(loadLicense(join(dir, 'ok.json'), log, [key]).tier).toBe('Pro');
    writeFileSync(join(dir, 'bad.json'), '{');
    expect(loadLicense(join(dir, 'bad.json'), log, [key])).toBe(UNLICENSED);
    expect(logs).toEqual([
      'info kofn: running without a licence: Essential limits (3 relays, 10 users, 1 TB protected, 1 GB per file).',
      'info kofn: licence L1 for ACME: Pro (5 relays, 50 users).',
      `error kofn: licence ${join(dir, 'bad.json')} refused (The licence file is not JSON.); running with Essential limits.`
    ]);
  });
});
