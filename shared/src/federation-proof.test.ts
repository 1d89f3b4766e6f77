/**
 * Federated request signatures (federation-proof.ts): a header made by signFederated verifies for exactly
 * the method, path and body signed, by exactly the key that made it; the private key cannot be exported;
 * malformed headers parse to nothing.
 */
import { describe, expect, it } from 'vitest';
import { FEDERATION_PUBLIC_KEY, newFederationKeyPair, parseFederationHeader, signFederated, verifyFederated } from './federation-proof.js';
import { useRandomSource } from './random.js';
import { seededSource } from './testing.js';

const enc = new TextEncoder();
const ID = '0123456789abcdef0123456789abcdef';

describe('federation proofs', () => {
  it('verify for the request signed and for nothing else', async () => {
    const { keys, publicKey } = await newFederationKeyPair();
    expect(publicKey).toMatch(FEDERATION_PUBLIC_KEY);
    const body = enc.encode('{"size":1,"k":2}');
    const header = await signFederated(keys.privateKey, ID, 'post', '/api/federation/remote/files', body, 1_700_000_000_000);
    const proof = parseFederationHeader(header)!;
    expect(proof).toMatchObject({ userLinkId: ID, time: 1_700_000_000_000 });
    expect(await verifyFederated(publicKey, proof, 'POST', '/api/federation/remote/files', body)).toBe(true);
    expect(await verifyFederated(publicKey, proof, 'DELETE', '/api/federation/remote/files', body)).toBe(false);
    expect(await verifyFederated(publicKey, proof, 'POST', '/api/federation/remote/files/x', body)).toBe(false);
    expect(await verifyFederated(publicKey, proof, 'POST', '/api/federation/remote/files', enc.encode('{"size":2,"k":2}'))).toBe(false);
    expect(await verifyFederated(publicKey, { ...proof, time: proof.time + 1 }, 'POST', '/api/federation/remote/files', body)).toBe(false);
    const other = await newFederationKeyPair();
    expect(await verifyFederated(other.publicKey, proof, 'POST', '/api/federation/remote/files', body)).toBe(false);
    // Not a key at all: false, never a throw.
    expect(await verifyFederated('A'.repeat(43), proof, 'POST', '/api/federation/remote/files', body)).toBe(false);
    expect(await verifyFederated('short', proof, 'POST', '/api/federation/remote/files', body)).toBe(false);
  });

  it('two headers for the same request differ (fresh nonce), and the private key cannot be exported', async () => {
    const { keys } = await newFederationKeyPair();
    const a = await signFederated(keys.privateKey, ID, 'GET', '/p', new Uint8Array(0), 1);
    const b = await signFederated(keys.privateKey, ID, 'GET', '/p', new Uint8Array(0), 1);
    expect(parseFederationHeader(a)!.nonce).not.toBe(parseFederationHeader(b)!.nonce);
    expect(keys.privateKey.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('pkcs8', keys.privateKey)).rejects.toThrow();
  });

  it('draws the key from random.ts (the one randomness source): the same seed gives the same key, another seed another', async () => {
    const keyOf = async (seed: number) => {
      const restore = useRandomSource(seededSource(seed));
      try {
        return (await newFederationKeyPair()).publicKey;
      } finally {
        restore();
      }
    };
    expect(await keyOf(7)).toBe(await keyOf(7));
    expect(await keyOf(7)).not.toBe(await keyOf(8));
  });

  it('malformed headers parse to nothing', () => {
    const sig = 'A'.repeat(86);
    const nonce = 'B'.repeat(22);
    expect(parseFederationHeader(`${ID}.1.${nonce}.${sig}`)).toBeDefined();
    for (const bad of [
      null,
      '',
      `${ID}.1.${nonce}`,
      `${ID.toUpperCase()}.1.${nonce}.${sig}`,
      `${ID}.-1.${nonce}.${sig}`,
      `${ID}.1.${nonce}.${sig}.x`,
      `${ID}.1.${nonce}!.${sig}`,
      `${ID}.1.${nonce}.${sig}A`,
      'x'.repeat(201)
    ]) {
      expect(parseFederationHeader(bad), String(bad)).toBeUndefined();
    }
  });
});
