/**
 * Issue #13 item 8a: which licence keys a build trusts is decided by vite.config.ts at build time. This
 * reads the `define` the real config gives a production build (`npm run build`, as `npm start` and the
 * Docker image run it), a build for tests (KOFN_TEST_BUILD=1) and vitest, and checks the production
 * choice refuses a licence signed with the committed test key.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import viteConfig from '../../../vite.config.js';
import { trustedVendorKeys } from './license-keys.js';
import { verifyLicense } from './license.js';

const testPublic = readFileSync(resolve(import.meta.dirname, 'testing/TEST-ONLY-vendor-license-public.pem'), 'utf8');
const testPrivate = createPrivateKey(readFileSync(resolve(import.meta.dirname, 'testing/TEST-ONLY-vendor-license-private.pem')));

/** The test key the config writes into a build, as the built code sees it (JSON.parse of the define). */
async function builtTestKey(mode: string, testBuildEnv: string | undefined): Promise<string | null> {
  if (testBuildEnv === undefined) delete process.env.KOFN_TEST_BUILD;
  else process.env.KOFN_TEST_BUILD = testBuildEnv;
  const config = typeof viteConfig === 'function' ? viteConfig({ mode, command: 'build' }) : viteConfig;
  return JSON.parse(String(config.define?.__KOFN_TEST_VENDOR_KEY__)) as string | null;
}

describe('licence keys per build', () => {
  const saved = process.env.KOFN_TEST_BUILD;
  afterEach(() => {
    if (saved === undefined) delete process.env.KOFN_TEST_BUILD;
    else process.env.KOFN_TEST_BUILD = saved;
  });

  it('a production build gets no test key, so it refuses a test-key licence', async () => {
    const key = await builtTestKey('production', undefined);
    expect(key).toBeNull();
    expect(await builtTestKey('production', '0')).toBeNull();
    const bytes = Buffer.from(JSON.stringify({ id: 'T', licensee: 'tests', tier: 'Elite' }));
    const doc = JSON.stringify({ license: bytes.toString('base64url'), signature: sign(null, bytes, testPrivate).toString('base64url') });
    expect(() => verifyLicense(doc, trustedVendorKeys(key))).toThrow('The licence signature does not match the vendor key.');
    expect(verifyLicense(doc, trustedVendorKeys(testPublic)).tier).toBe('Elite');
  });

  it('a build for tests (KOFN_TEST_BUILD=1) and vitest get the committed test key', async () => {
    expect(await builtTestKey('production', '1')).toBe(testPublic);
    expect(await builtTestKey('test', undefined)).toBe(testPublic);
  });
});
