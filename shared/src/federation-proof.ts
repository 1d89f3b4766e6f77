/**
 * Federation (issue #21 part 2, shared/docs/federation.md): the signature a user's browser puts on every
 * request it makes to another kofn deployment's coordinator (X) for a remote group's sub-file.
 *
 * The browser holds a non-extractable Ed25519 key pair per linked deployment (WebCrypto; the home
 * deployment's server never sees the private key and cannot copy it out of the page); X holds only the
 * public key, bound to the user's account at X by a sign-in at X's own pages. Each request carries
 *
 *   X-Kofn-Federation: <user link id>.<time ms>.<nonce>.<signature>
 *
 * over `kofn-federation-v1 \n METHOD \n path \n time \n nonce \n base64url(SHA-256(body))`. X accepts a time
 * within FEDERATION_WINDOW_MS of its clock and each nonce once per user link while the window lasts, so a
 * captured header cannot be replayed, nor moved to another path, method or body. The same construction as
 * share links' proofs (link-proof.ts), which this module reuses for base64url.
 *
 * WebCrypto only, so one implementation serves the browser and the coordinator (Node >= 20).
 */
import { base64url, fromBase64url } from './link-proof.js';
import { randomBytes } from './random.js';

export const FEDERATION_HEADER = 'x-kofn-federation';
/** How far a request's time may be from the verifier's clock (either way). */
export const FEDERATION_WINDOW_MS = 120_000;
/** A user link id: 32 lowercase hex digits. */
export const USER_LINK_ID = /^[0-9a-f]{32}$/;
/** An Ed25519 public key, raw, in base64url (32 bytes). */
export const FEDERATION_PUBLIC_KEY = /^[A-Za-z0-9_-]{43}$/;
const NONCE = /^[A-Za-z0-9_-]{22}$/;
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;
const enc = new TextEncoder();

export interface FederationProof {
  userLinkId: string;
  time: number;
  nonce: string;
  signature: string;
}

/** The bytes signed for one request. `path` is the URL's pathname (no query: the federated routes take none). */
export async function federationMessage(method: string, path: string, time: number, nonce: string, body: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body as Uint8Array<ArrayBuffer>));
  return enc.encode(['kofn-federation-v1', method.toUpperCase(), path, String(time), nonce, base64url(digest)].join('\n'));
}

/** RFC 8410 §7: the fixed PKCS #8 prefix of an Ed25519 private key, followed by its 32-byte seed (as ed25519-keys.ts). */
const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

/**
 * A new key pair whose private half cannot be exported (the browser stores the CryptoKeyPair itself in
 * IndexedDB). The seed is drawn from random.ts, the project's one source of randomness (RFC 8032 §5.1.5: the
 * private key is the seed), not by `generateKey`. An extractable copy is imported once to read the public
 * key (JWK `x`), then the seed is wiped; the key pair kept holds only the non-extractable private key.
 */
export async function newFederationKeyPair(): Promise<{ keys: CryptoKeyPair; publicKey: string }> {
  const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + 32);
  der.set(PKCS8_ED25519_PREFIX);
  const seed = randomBytes(32);
  der.set(seed, PKCS8_ED25519_PREFIX.length);
  seed.fill(0);
  try {
    const readable = await crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, true, ['sign']);
    const x = (await crypto.subtle.exportKey('jwk', readable)).x;
    if (typeof x !== 'string') throw new Error('Ed25519 JWK without x');
    const privateKey = await crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, false, ['sign']);
    const publicKey = await crypto.subtle.importKey('raw', fromBase64url(x) as Uint8Array<ArrayBuffer>, { name: 'Ed25519' }, true, ['verify']);
    return { keys: { privateKey, publicKey }, publicKey: x };
  } finally {
    der.fill(0);
  }
}

/** The header value for one request, signed with `privateKey`. */
export async function signFederated(privateKey: CryptoKey, userLinkId: string, method: string, path: string, body: Uint8Array, time = Date.now()): Promise<string> {
  const nonce = base64url(randomBytes(16));
  const signature = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, privateKey, await federationMessage(method, path, time, nonce, body)));
  return `${userLinkId}.${time}.${nonce}.${base64url(signature)}`;
}

/** The header's parts, or undefined when it is malformed (the caller answers one error for every failure). */
export function parseFederationHeader(value: string | null): FederationProof | undefined {
  if (value === null || value.length > 200) return undefined;
  const parts = value.split('.');
  if (parts.length !== 4) return undefined;
  const [userLinkId, time, nonce, signature] = parts as [string, string, string, string];
  if (!USER_LINK_ID.test(userLinkId) || !/^\d{1,15}$/.test(time) || !NONCE.test(nonce) || !SIGNATURE.test(signature)) return undefined;
  return { userLinkId, time: Number(time), nonce, signature };
}

/** Whether `proof` is a valid signature by `publicKey` (raw base64url) over this request. */
export async function verifyFederated(publicKey: string, proof: FederationProof, method: string, path: string, body: Uint8Array): Promise<boolean> {
  if (!FEDERATION_PUBLIC_KEY.test(publicKey)) return false;
  try {
    const key = await crypto.subtle.importKey('raw', fromBase64url(publicKey) as Uint8Array<ArrayBuffer>, { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'Ed25519' }, key, fromBase64url(proof.signature) as Uint8Array<ArrayBuffer>, await federationMessage(method, path, proof.time, proof.nonce, body));
  } catch {
    // A key that does not import (not a curve point) verifies nothing.
    return false;
  }
}
