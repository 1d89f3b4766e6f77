import { createPublicKey, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ed25519PrivateKeyFromSeed, newEd25519KeyPair } from './ed25519-keys.js';

describe('ed25519 keys from a seed', () => {
  it('matches RFC 8032 §7.1 test 1 (seed to public key, and the signature of the empty message)', () => {
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    const key = ed25519PrivateKeyFromSeed(seed);
    const x = Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url').toString('hex');
    expect(x).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(sign(null, Buffer.alloc(0), key).toString('hex')).toBe('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
  });

  it('makes distinct working key pairs', () => {
    const a = newEd25519KeyPair();
    const b = newEd25519KeyPair();
    expect(a.publicKey.export({ format: 'jwk' }).x).not.toBe(b.publicKey.export({ format: 'jwk' }).x);
    const sig = sign(null, Buffer.from('kofn'), a.privateKey);
    expect(verify(null, Buffer.from('kofn'), a.publicKey, sig)).toBe(true);
    expect(verify(null, Buffer.from('kofn'), b.publicKey, sig)).toBe(false);
  });

  it('refuses a seed that is not 32 bytes', () => {
    expect(() => ed25519PrivateKeyFromSeed(new Uint8Array(31))).toThrow(RangeError);
  });
});
