/** Signs capability tokens the way the coordinator does, with a key made for the test. */
import { SignJWT, importJWK, type CryptoKey, type JWK } from 'jose';
import { TOKEN_ISSUER, randomUuid, type CapabilityClaims } from '@kofn/shared';
import { newEd25519KeyPair } from '@kofn/shared/ed25519-keys';

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
  const pair = newEd25519KeyPair();
  const publicKey = (await importJWK(pair.publicKey.export({ format: 'jwk' }) as JWK, 'EdDSA')) as CryptoKey;
  const privateKey = (await importJWK(pair.privateKey.export({ format: 'jwk' }) as JWK, 'EdDSA')) as CryptoKey;
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
        .setJti(randomUuid())
        .setIssuedAt(now() + (opts.iat ?? 0))
        .setNotBefore(now() + (opts.nbf ?? 0))
        .setExpirationTime(now() + (opts.exp ?? 300))
        .sign(opts.key ?? privateKey)
  };
}
