/**
 * Ed25519 key pairs for Node (relay identity, licence keys, test keys), made from a 32-byte seed drawn from
 * random.ts, so key generation too uses the project's one source of randomness rather than OpenSSL's own.
 * RFC 8032 §5.1.5: the private key is the 32-byte seed; RFC 8410 §7 gives its PKCS #8 wrapping, whose
 * fixed 16-byte prefix is below.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { randomBytes } from './random.js';

const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

export function ed25519PrivateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new RangeError('An Ed25519 seed is 32 bytes.');
  const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + 32);
  der.set(PKCS8_ED25519_PREFIX);
  der.set(seed, PKCS8_ED25519_PREFIX.length);
  return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
}

export function newEd25519KeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  const privateKey = ed25519PrivateKeyFromSeed(randomBytes(32));
  return { privateKey, publicKey: createPublicKey(privateKey) };
}
