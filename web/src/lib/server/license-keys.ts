/**
 * The vendor keys a licence may be signed with, built into the product (issue #13 item 8a: a key from
 * the operator's environment let anyone sign their own licence with a self-made key pair).
 *
 * Production builds trust only VENDOR_PUBLIC_KEY, whose private half the vendor keeps offline. A build
 * made for tests (KOFN_TEST_BUILD=1, set by e2e/run-all.mjs; always under vitest) also trusts the test
 * key in src/lib/server/testing/TEST-ONLY-vendor-license-{public,private}.pem, whose private half is
 * committed so tests can issue licences. Vite `define` (vite.config.ts) writes that public key into the
 * test build as __KOFN_TEST_VENDOR_KEY__ and writes null into every other build, so a production build
 * does not contain the test key at all and nothing at run time (environment, file, argument) adds a key.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';

/** The kofn vendor's licence-signing key (Ed25519, SPKI). */
export const VENDOR_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAgXovFx1FUVei+RdLTKDxkvYg/YgHGKziCRipHHVICYc=
-----END PUBLIC KEY-----`;

/** TEST ONLY: the test key's PEM in a build made for tests, null in any other build. */
export const BUILD_TEST_VENDOR_KEY: string | null = __KOFN_TEST_VENDOR_KEY__;

/** The keys a build trusts, given its test key (a parameter so tests can check a production build's choice). */
export function trustedVendorKeys(testKey: string | null = BUILD_TEST_VENDOR_KEY): KeyObject[] {
  return (testKey === null ? [VENDOR_PUBLIC_KEY] : [VENDOR_PUBLIC_KEY, testKey]).map((pem) => createPublicKey(pem));
}
