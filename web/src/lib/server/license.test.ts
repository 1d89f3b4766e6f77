import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LicenseClock, TIERS, UNLICENSED, effectiveLicense, loadLicense, parsePublicKey, verifyLicense } from './license.js';
import { BUILD_TEST_VENDOR_KEY, VENDOR_PUBLIC_KEY, trustedVendorKeys } from './license-keys.js';
import { loadConfig } from './config.js';

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();

function issue(payload: object, key = privateKey): string {
  const bytes = Buffer.from(JSON.stringify(payload));
  return JSON.stringify({ license: bytes.toString('base64url'), signature: sign(null, bytes, key).toString('base64url') });
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
};

describe('licence verification', () => {
  it('accepts a vendor-signed Pro licence with its tier limits', () => {
    const lic = verifyLicense(issue({ id: 'L1', licensee: 'ACME', tier: 'Pro' }), parsePublicKey(pem));
    expect(lic).toMatchObject({ tier: 'Pro', licensee: 'ACME', licensed: true, limits: TIERS.Pro });
    expect(TIERS.Essential).toEqual({ relays: 3, users: 10, protectedBytes: 1e12, maxFileSize: 1e9 });
    expect(TIERS.Elite).toEqual({ relays: 10, users: 100, protectedBytes: 10e12, maxFileSize: 10e9 });
  });

  it('takes custom values over the tier', () => {
    const lic = verifyLicense(issue({ tier: 'Elite', limits: { relays: 12 } }), parsePublicKey(pem));
    expect(lic.limits).toEqual({ ...TIERS.Elite, relays: 12 });
  });

  it('refuses tampering: payload changed, signature changed, other vendor key', () => {
    const doc = JSON.parse(issue({ tier: 'Essential' })) as { license: string; signature: string };
    const richer = Buffer.from(JSON.stringify({ tier: 'Elite' })).toString('base64url');
    expect(code(() => verifyLicense(JSON.stringify({ ...doc, license: richer }), parsePublicKey(pem)))).toBe('LICENSE_INVALID');
    const sig = Buffer.from(doc.signature, 'base64url');
    sig[0]! ^= 1;
    expect(code(() => verifyLicense(JSON.stringify({ ...doc, signature: sig.toString('base64url') }), parsePublicKey(pem)))).toBe('LICENSE_INVALID');
    const other = generateKeyPairSync('ed25519');
    expect(code(() => verifyLicense(issue({ tier: 'Pro' }, other.privateKey), parsePublicKey(pem)))).toBe('LICENSE_INVALID');
  });

  it('refuses expired licences, unknown tiers and malformed documents', () => {
    expect(code(() => verifyLicense(issue({ tier: 'Pro', expiresAt: '2020-01-01T00:00:00Z' }), parsePublicKey(pem)))).toBe('LICENSE_INVALID');
    expect(() => verifyLicense(issue({ tier: 'Gold' }), parsePublicKey(pem))).toThrow('Valid values are Essential, Pro, Elite, Custom.');
    expect(code(() => verifyLicense('not json', parsePublicKey(pem)))).toBe('LICENSE_INVALID');
    expect(code(() => verifyLicense('{}', parsePublicKey(pem)))).toBe('LICENSE_INVALID');
    expect(code(() => verifyLicense(issue({ tier: 'Custom', limits: { relays: 4 } }), parsePublicKey(pem)))).toBe('LICENSE_INVALID');
  });

  it('runs with Essential limits and says so without a licence, or with a refused one', () => {
    const logs: string[] = [];
    const log = { info: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };
    expect(loadLicense(undefined, log, [parsePublicKey(pem)])).toBe(UNLICENSED);
    expect(logs[0]).toContain('running without a licence: Essential limits');
    const dir = mkdtempSync(join(tmpdir(), 'kofn-lic-'));
    writeFileSync(join(dir, 'bad.json'), issue({ tier: 'Pro' }, generateKeyPairSync('ed25519').privateKey));
    expect(loadLicense(join(dir, 'bad.json'), log, [parsePublicKey(pem)])).toBe(UNLICENSED);
    expect(logs[1]).toContain('refused');
  });

  it('refuses an expiry date that does not parse (it would never expire)', () => {
    expect(code(() => verifyLicense(issue({ tier: 'Pro', expiresAt: 'someday' }), parsePublicKey(pem)))).toBe('LICENSE_INVALID');
  });
});

// Issue #13 item 8a: the verifying key is built in; the environment cannot supply one.
describe('built-in vendor key', () => {
  const testKey = createPrivateKey(readFileSync(resolve(import.meta.dirname, 'testing/TEST-ONLY-vendor-license-private.pem')));
  const quiet = { info: () => undefined, error: () => undefined };
  const write = (doc: string): string => {
    const file = join(mkdtempSync(join(tmpdir(), 'kofn-lic-key-')), 'license.json');
    writeFileSync(file, doc);
    return file;
  };

  it('attack: a licence signed with a self-made key is refused even when the environment names that key', () => {
    const attacker = generateKeyPairSync('ed25519');
    const path = write(issue({ id: 'self-made', licensee: 'me', tier: 'Custom', limits: { relays: 255, users: 1e6, protectedBytes: 1e18, maxFileSize: 1e15 } }, attacker.privateKey));
    const config = loadConfig({ KOFN_LICENSE: path, KOFN_LICENSE_PUBLIC_KEY: attacker.publicKey.export({ type: 'spki', format: 'pem' }).toString() });
    expect(config).not.toHaveProperty('licensePublicKey');
    const lic = loadLicense(config.licensePath, quiet);
    expect(lic).toBe(UNLICENSED);
    expect(lic.limits).toEqual(TIERS.Essential);
  });

  it('a production build trusts only the vendor key and refuses a test-key licence', () => {
    const keys = trustedVendorKeys(null);
    expect(keys).toHaveLength(1);
    expect(keys[0]!.export({ type: 'spki', format: 'pem' }).toString().trim()).toBe(VENDOR_PUBLIC_KEY);
    const path = write(issue({ id: 'T1', licensee: 'tests', tier: 'Elite' }, testKey));
    expect(loadLicense(path, quiet, keys)).toBe(UNLICENSED);
    expect(code(() => verifyLicense(issue({ tier: 'Elite' }, testKey), keys))).toBe('LICENSE_INVALID');
  });

  it('a build made for tests (vitest is one) also trusts the committed test key, and only that extra key', () => {
    expect(BUILD_TEST_VENDOR_KEY).toBe(readFileSync(resolve(import.meta.dirname, 'testing/TEST-ONLY-vendor-license-public.pem'), 'utf8'));
    const path = write(issue({ id: 'T2', licensee: 'tests', tier: 'Elite' }, testKey));
    expect(loadLicense(path, quiet)).toMatchObject({ id: 'T2', tier: 'Elite', licensed: true, limits: TIERS.Elite });
    expect(code(() => verifyLicense(issue({ tier: 'Elite' }, generateKeyPairSync('ed25519').privateKey), trustedVendorKeys()))).toBe('LICENSE_INVALID');
  });
});

// Issue #13 item 8d: expiry applies while the coordinator runs, not only at start.
describe('licence expiry at run time', () => {
  const pro = verifyLicense(issue({ id: 'E1', licensee: 'ACME', tier: 'Pro', expiresAt: '2030-06-30T23:59:59.000Z' }), parsePublicKey(pem), new Date('2030-01-01T00:00:00Z'));

  it('keeps the licence until its expiry, then gives Essential limits and says so once in the logs', () => {
    let now = new Date('2030-06-30T23:59:59.000Z');
    const logs: string[] = [];
    const clock = new LicenseClock(pro, { info: (m) => logs.push(m), error: (m) => logs.push(m) }, () => now);
    expect(clock.current()).toMatchObject({ tier: 'Pro', licensed: true, limits: TIERS.Pro });
    now = new Date('2030-07-01T00:00:00.000Z');
    const after = clock.current();
    expect(after).toMatchObject({ tier: 'Essential', licensed: false, expired: true, id: 'E1', licensee: 'ACME', limits: TIERS.Essential });
    clock.current();
    expect(logs).toEqual(['kofn: licence E1 for ACME expired on 2030-06-30T23:59:59.000Z; running with Essential limits (3 relays, 10 users, 1 TB protected, 1 GB per file).']);
  });

  it('leaves licences without expiry and the unlicensed default as they are', () => {
    const forever = verifyLicense(issue({ tier: 'Elite' }), parsePublicKey(pem));
    expect(effectiveLicense(forever, new Date('2999-01-01T00:00:00Z'))).toBe(forever);
    expect(effectiveLicense(UNLICENSED, new Date('2999-01-01T00:00:00Z'))).toBe(UNLICENSED);
  });
});

describe('kofn-license command', () => {
  it('keygen, issue and inspect produce a licence the coordinator accepts', () => {
    const cli = resolve(import.meta.dirname, '../../../scripts/kofn-license.mjs');
    const dir = mkdtempSync(join(tmpdir(), 'kofn-lic-cli-'));
    execFileSync(process.execPath, [cli, 'keygen', '--out', dir]);
    const out = join(dir, 'license.json');
    execFileSync(process.execPath, [
      cli,
      'issue',
      '--key',
      join(dir, 'license-private.pem'),
      '--tier',
      'Custom',
      '--licensee',
      'Lab',
      '--relays',
      '7',
      '--users',
      '20',
      '--protected-bytes',
      '3000000000000',
      '--max-file-size',
      '2000000000',
      '--out',
      out
    ]);
    const inspected = execFileSync(process.execPath, [cli, 'inspect', out, '--public-key', join(dir, 'license-public.pem')], { encoding: 'utf8' });
    expect(inspected).toContain('signature: valid');
    const lic = verifyLicense(readFileSync(out, 'utf8'), parsePublicKey(readFileSync(join(dir, 'license-public.pem'), 'utf8')));
    expect(lic).toMatchObject({ tier: 'Custom', licensee: 'Lab', limits: { relays: 7, users: 20, protectedBytes: 3e12, maxFileSize: 2e9 } });
  });
});
