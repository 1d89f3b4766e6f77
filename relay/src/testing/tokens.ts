/** Signs capability tokens the way the coordinator does, with a key made for the test. */
import { SignJWT, generateKeyPair, type CryptoKey } from 'jose';
import { randomUUID } from 'node:crypto';
import { TOKEN_ISSUER, type CapabilityClaims } from '@kofn/shared';

export interface Signer {
  publicKey: CryptoKey;
  privateKey: CryptoKey;
  mint: (claims: Partial<CapabilityClaims> & { fid: string }, opts?: MintOptions) => Promise<string>;
}

export interface MintOptions {
  aud?: string;
  iss?: string;
  /** Seconds from now. */
  exp?: number;
  nbf?: number;
  iat?: number;
  key?: CryptoKey;
}

export async function makeSigner(relayId: string): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const now = () => Math.floor(Date.now() / 1000);
  return {
    publicKey,
    privateKey,
    mint: (claims, opts = {}) =>
      new SignJWT({ op: 'put', chunks: [0, 1000], ...claims })
        .setProtectedHeader({ alg: 'EdDSA' })
        .setIssuer(opts.iss ?? TOKEN_ISSUER)
        .setAudience(opts.aud ?? relayId)
        .setSubject('user-1')
        .setJti(randomUUID())
        .setIssuedAt(now() + (opts.iat ?? 0))
        .setNotBefore(now() + (opts.nbf ?? 0))
        .setExpirationTime(now() + (opts.exp ?? 300))
        .sign(opts.key ?? privateKey)
  };
}
