/**
 * Test-only software authenticator: makes real WebAuthn registration and authentication responses
 * (attestation format "none", ES256 keys whose private scalar comes from the project's random module, CBOR
 * from SimpleWebAuthn's own helpers) so the coordinator's passkey code is exercised with genuine
 * signatures, not stubs. Browsers are covered by Chromium's virtual authenticator in
 * e2e/tests/passkeys.spec.ts.
 */
import { createECDH, createHash, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type { AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { randomBytes } from '@kofn/shared';

type Cbor = Parameters<typeof isoCBOR.encode>[0];

interface Held {
  id: string;
  privateKey: KeyObject;
  userHandle: string;
  rpId: string;
  counter: number;
}

export interface AuthenticatorOptions {
  origin: string;
  /** Sets the UV flag (user verified); default true. */
  userVerified?: boolean;
  /** Increments the signature counter on every use (a hardware key); false keeps it at 0 (a synced passkey). */
  counts?: boolean;
}

const sha256 = (b: Uint8Array | string): Buffer => createHash('sha256').update(b).digest();
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export class SoftAuthenticator {
  readonly held: Held[] = [];
  constructor(readonly opts: AuthenticatorOptions) {}

  private flags(extra: number): number {
    // UP (bit 0), UV (bit 2) when verified; BE+BS (bits 3, 4) for a synced passkey, which keeps no counter.
    return 0x01 | (this.opts.userVerified === false ? 0 : 0x04) | (this.opts.counts === false ? 0x18 : 0) | extra;
  }

  private clientData(type: string, challenge: string, origin = this.opts.origin): string {
    return b64(Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false })));
  }

  create(options: PublicKeyCredentialCreationOptionsJSON, over: { origin?: string; rpId?: string } = {}): RegistrationResponseJSON {
    // A P-256 key from 32 random bytes (random.ts, the one source the repository allows): ECDH derives its
    // public point, and the JWK form makes it a signing key for node:crypto.
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(randomBytes(32)));
    const point = ecdh.getPublicKey();
    const jwk = { kty: 'EC', crv: 'P-256', d: ecdh.getPrivateKey().toString('base64url'), x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') };
    const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
    const cose = isoCBOR.encode(
      new Map<number, Cbor>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, point.subarray(1, 33)],
        [-3, point.subarray(33, 65)]
      ])
    );
    const credId = randomBytes(16);
    const rpId = over.rpId ?? options.rp.id!;
    const counter = this.opts.counts === false ? 0 : 1;
    const authData = Buffer.concat([sha256(rpId), Buffer.from([this.flags(0x40)]), u32(counter), Buffer.alloc(16), Buffer.from([0, credId.length]), credId, cose]);
    const attestationObject = isoCBOR.encode(
      new Map<string, Cbor>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData]
      ])
    );
    const id = b64(credId);
    this.held.push({ id, privateKey, userHandle: options.user.id, rpId, counter });
    return {
      id,
      rawId: id,
      type: 'public-key',
      response: { clientDataJSON: this.clientData('webauthn.create', options.challenge, over.origin), attestationObject: b64(attestationObject), transports: ['internal'] },
      clientExtensionResults: {}
    };
  }

  /** An assertion by credential `which` (default the first held); `counter` forces a value (a clone). */
  get(options: PublicKeyCredentialRequestOptionsJSON, over: { which?: number; origin?: string; rpId?: string; counter?: number; userHandle?: string | null } = {}): AuthenticationResponseJSON {
    const cred = this.held[over.which ?? 0];
    if (!cred) throw new Error('the soft authenticator holds no such credential');
    if (this.opts.counts !== false) cred.counter += 1;
    const counter = over.counter ?? cred.counter;
    const authData = Buffer.concat([sha256(over.rpId ?? options.rpId ?? cred.rpId), Buffer.from([this.flags(0)]), u32(counter)]);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, over.origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(Buffer.from(clientDataJSON, 'base64url'))]), cred.privateKey);
    const userHandle = over.userHandle === undefined ? cred.userHandle : over.userHandle;
    return {
      id: cred.id,
      rawId: cred.id,
      type: 'public-key',
      response: { clientDataJSON, authenticatorData: b64(authData), signature: b64(signature), ...(userHandle === null ? {} : { userHandle }) },
      clientExtensionResults: {}
    };
  }
}
