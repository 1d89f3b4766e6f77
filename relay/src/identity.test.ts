import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { createPublicKey, verify } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fingerprintOf, loadOrCreateRelayKey, readEnrollment, readRelayId, saveEnrollment, signWith, standaloneRelayId } from './identity.js';

const dir = () => mkdtempSync(join(tmpdir(), 'kofn-identity-'));

describe('relay identity', () => {
  it('makes an Ed25519 key once, private to the relay, and loads the same key on the next start', () => {
    const d = dir();
    const first = loadOrCreateRelayKey(d);
    expect(statSync(join(d, 'relay-key.pem')).mode & 0o777).toBe(0o600);
    expect(first.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.fingerprint).toMatch(/^[0-9a-f]{4}(:[0-9a-f]{4}){7}$/);
    expect(first.fingerprint).toBe(fingerprintOf(first.publicKey));
    const again = loadOrCreateRelayKey(d);
    expect(again.publicKey).toBe(first.publicKey);
    expect(loadOrCreateRelayKey(dir()).publicKey).not.toBe(first.publicKey);
  });

  it('signs with that key (RFC 8032 Ed25519, verifiable from the public key alone)', () => {
    const key = loadOrCreateRelayKey(dir());
    const data = new TextEncoder().encode('hello');
    const sig = Buffer.from(signWith(key, data), 'base64url');
    const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.publicKey }, format: 'jwk' });
    expect(verify(null, data, pub, sig)).toBe(true);
    expect(verify(null, new TextEncoder().encode('hellO'), pub, sig)).toBe(false);
  });

  it('refuses a key file that is not an Ed25519 key instead of replacing it', () => {
    const d = dir();
    writeFileSync(join(d, 'relay-key.pem'), 'not a key');
    expect(() => loadOrCreateRelayKey(d)).toThrow();
  });

  it('keeps the id the coordinator assigned, and a stand-alone id only when there is none', () => {
    const d = dir();
    expect(readRelayId(d)).toBeUndefined();
    expect(readEnrollment(d)).toBeUndefined();
    const e = { relayId: '3f2b8c1e-5d6a-4b7c-8e9f-0a1b2c3d4e5f', coordinator: 'http://127.0.0.1:1', publicKey: 'k' };
    saveEnrollment(d, e);
    expect(readEnrollment(d)).toEqual(e);
    expect(readRelayId(d)).toBe(e.relayId);
    expect(standaloneRelayId(d)).toBe(e.relayId);
    const fresh = dir();
    const made = standaloneRelayId(fresh);
    expect(made).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(standaloneRelayId(fresh)).toBe(made);
  });

  it('ignores a relay-id file that is not a lowercase UUID', () => {
    const d = dir();
    writeFileSync(join(d, 'relay-id'), '../../etc/passwd\n');
    expect(readRelayId(d)).toBeUndefined();
  });
});
