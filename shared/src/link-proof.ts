/**
 * Share links (issue #19): the proof a recipient presents to get read tokens, derived in the browser from
 * the link's secret (which lives in the URL fragment and is never sent) and its optional password.
 *
 * secret (32 random bytes) ─┐
 * password ─ PBKDF2-SHA256(600,000, salt = secret) ─┤─ HKDF-SHA256 ─ Ed25519 seed ─ key pair
 *
 * The coordinator stores only the public key (the verifier). To open a link the browser signs
 * `kofn-link-v1 | purpose | link id | time (ms) | nonce`; the coordinator verifies the signature and
 * remembers the proofs it accepted while their time is within its window, so a captured proof cannot be
 * replayed. The random nonce keeps two recipients signing in the same millisecond apart (Ed25519 is
 * deterministic: without it their proofs would be identical, and the second taken for a replay). A leaked database holds public
 * keys only: nobody can sign with them, so nobody can mint tokens from a leak (unlike a stored hash of a
 * bearer secret, which the server would have to receive and so could log). A wrong password yields a
 * different key and so an invalid signature, which the coordinator counts per link (rate limit) without
 * ever seeing the password. PBKDF2 at 600,000 iterations follows OWASP's Password Storage Cheat Sheet
 * (2023) for PBKDF2-HMAC-SHA256; it slows offline guessing by someone who holds the URL but not the password.
 *
 * WebCrypto only (browser and Node >= 20 both have Ed25519, PBKDF2 and HKDF), so the one implementation
 * serves the owner's page, the recipient's page and the coordinator's tests.
 */
import { randomBytes } from './random.js';

export const LINK_SECRET_BYTES = 32;
export const LINK_PBKDF2_ITERATIONS = 600_000;
export type LinkProofPurpose = 'open' | 'tokens';

const enc = new TextEncoder();
// RFC 8410 §7: PKCS#8 wrapping of a raw Ed25519 seed (the only private import WebCrypto takes without x).
const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

export function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new TypeError('"base64url" expected base64url text');
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

export function newLinkSecret(): Uint8Array {
  return randomBytes(LINK_SECRET_BYTES);
}

async function passwordBits(secret: Uint8Array<ArrayBuffer>, password: string): Promise<Uint8Array> {
  const base = await crypto.subtle.importKey('raw', enc.encode(password.normalize('NFC')), 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: secret, iterations: LINK_PBKDF2_ITERATIONS }, base, 256));
}

export interface LinkKey {
  privateKey: CryptoKey;
  /** Raw Ed25519 public key, base64url: the verifier the coordinator stores. */
  publicKey: string;
}

/** The link's key pair from its secret and password (empty or absent: no password). */
export async function linkKey(secret: Uint8Array, password?: string): Promise<LinkKey> {
  if (secret.length !== LINK_SECRET_BYTES) throw new RangeError(`"secret" expected ${LINK_SECRET_BYTES} bytes, got ${secret.length}`);
  const s = Uint8Array.from(secret);
  const pw = password ? await passwordBits(s, password) : new Uint8Array(0);
  // A leading flag byte keeps "no password" apart from any password's bits.
  const ikm = new Uint8Array(1 + s.length + pw.length);
  ikm[0] = password ? 1 : 0;
  ikm.set(s, 1);
  ikm.set(pw, 1 + s.length);
  const hkdf = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  const seed = new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: enc.encode('kofn share link'), info: enc.encode('kofn share link key v1') }, hkdf, 256));
  const pkcs8 = new Uint8Array(PKCS8_ED25519_PREFIX.length + 32);
  pkcs8.set(PKCS8_ED25519_PREFIX);
  pkcs8.set(seed, PKCS8_ED25519_PREFIX.length);
  ikm.fill(0);
  seed.fill(0);
  const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
  pkcs8.fill(0);
  const jwk = await crypto.subtle.exportKey('jwk', privateKey);
  if (typeof jwk.x !== 'string') throw new TypeError('Ed25519 key without a public part');
  return { privateKey, publicKey: jwk.x };
}

export function linkProofMessage(purpose: LinkProofPurpose, linkId: string, at: number, nonce: string): Uint8Array<ArrayBuffer> {
  return enc.encode(`kofn-link-v1\n${purpose}\n${linkId}\n${at}\n${nonce}`);
}

export const LINK_NONCE_BYTES = 16;

export interface LinkProof {
  at: number;
  /** LINK_NONCE_BYTES random bytes, base64url. */
  nonce: string;
  signature: string;
}

/** Signs a proof for `purpose` on `linkId` at time `at` (ms since the epoch; the coordinator's clock when known). */
export async function signLinkProof(key: LinkKey, purpose: LinkProofPurpose, linkId: string, at = Date.now()): Promise<LinkProof> {
  const nonce = base64url(randomBytes(LINK_NONCE_BYTES));
  const sig = await crypto.subtle.sign({ name: 'Ed25519' }, key.privateKey, linkProofMessage(purpose, linkId, at, nonce));
  return { at, nonce, signature: base64url(new Uint8Array(sig)) };
}
