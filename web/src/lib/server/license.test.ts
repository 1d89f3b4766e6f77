import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TIERS, UNLICENSED, loadLicense, parsePublicKey, verifyLicense } from './license.js';

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
    expect(loadLicense(undefined, pem, log)).toBe(UNLICENSED);
    expect(logs[0]).toContain('running without a licence: Essential limits');
    const dir = mkdtempSync(join(tmpdir(), 'kofn-lic-'));
    writeFileSync(join(dir, 'bad.json'), issue({ tier: 'Pro' }, generateKeyPairSync('ed25519').privateKey));
    expect(loadLicense(join(dir, 'bad.json'), pem, log)).toBe(UNLICENSED);
    expect(logs[1]).toContain('refused');
  });
});

describe('kofn-license command', () => {
  it('keygen, issue and inspect produce a licence the coordinator accepts', () => {
    const cli = resolve(import.meta.dirname, '../../../scripts/kofn-license.mjs');
    const dir = mkdtempSync(join(tmpdir(), 'kofn-lic-cli-'));
    execFileSync(process.execPath, [cli, 'keygen', '--out', dir]);
    const out = join(dir, 'license.json');
    execFileSync(process.execPath, [cli, 'issue', '--key', join(dir, 'license-private.pem'), '--tier', 'Custom', '--licensee', 'Lab', '--relays', '7', '--users', '20', '--protected-bytes', '3000000000000', '--max-file-size', '2000000000', '--out', out]);
    const inspected = execFileSync(process.execPath, [cli, 'inspect', out, '--public-key', join(dir, 'license-public.pem')], { encoding: 'utf8' });
    expect(inspected).toContain('signature: valid');
    const lic = verifyLicense(readFileSync(out, 'utf8'), parsePublicKey(readFileSync(join(dir, 'license-public.pem'), 'utf8')));
    expect(lic).toMatchObject({ tier: 'Custom', licensee: 'Lab', limits: { relays: 7, users: 20, protectedBytes: 3e12, maxFileSize: 2e9 } });
  });
});
