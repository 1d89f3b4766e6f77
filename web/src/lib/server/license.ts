/**
 * Licence: a JSON file `{ "license": base64url(payload JSON), "signature": base64url(Ed25519 signature of
 * those payload bytes) }`, verified against the vendor's public key (KOFN_LICENSE_PUBLIC_KEY, PEM or
 * base64 SPKI; self-hosters configure their own). Tiers (Qasmat): Essential / Pro / Elite = relays 3/5/10,
 * users 10/50/100, protected bytes 1/5/10 TB, max file size 1/5/10 GB (TB, GB = 10^12, 10^9 bytes of
 * plaintext, not n times it); a payload may override any limit. No licence: Essential limits.
 * `web/scripts/kofn-license.mjs` is the vendor side (keygen, issue, inspect).
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KofnError } from '@kofn/shared';

export interface Limits {
  relays: number;
  users: number;
  protectedBytes: number;
  maxFileSize: number;
}

export const TIERS = {
  Essential: { relays: 3, users: 10, protectedBytes: 1e12, maxFileSize: 1e9 },
  Pro: { relays: 5, users: 50, protectedBytes: 5e12, maxFileSize: 5e9 },
  Elite: { relays: 10, users: 100, protectedBytes: 10e12, maxFileSize: 10e9 }
} as const satisfies Record<string, Limits>;

export type Tier = keyof typeof TIERS | 'Custom';

export interface License {
  id: string;
  licensee: string;
  tier: Tier;
  limits: Limits;
  issuedAt: string;
  expiresAt: string | null;
  /** False when running without a licence (Essential limits). */
  licensed: boolean;
}

export const UNLICENSED: License = {
  id: 'none',
  licensee: 'unlicensed',
  tier: 'Essential',
  limits: { ...TIERS.Essential },
  issuedAt: new Date(0).toISOString(),
  expiresAt: null,
  licensed: false
};

function invalid(message: string): KofnError {
  return new KofnError('LICENSE_INVALID', message);
}

export function parsePublicKey(text: string): KeyObject {
  const t = text.trim();
  if (t.startsWith('-----BEGIN')) return createPublicKey(t);
  return createPublicKey({ key: Buffer.from(t, 'base64'), format: 'der', type: 'spki' });
}

function positive(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw invalid(`Licence field "${field}" must be a positive integer.`);
  return v;
}

/** Verifies a licence document and returns its effective limits. */
export function verifyLicense(text: string, publicKey: KeyObject, now = new Date()): License {
  let doc: { license?: unknown; signature?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw invalid('The licence file is not JSON.');
  }
  if (typeof doc.license !== 'string' || typeof doc.signature !== 'string') throw invalid('The licence file lacks "license" or "signature".');
  const payloadBytes = Buffer.from(doc.license, 'base64url');
  const signature = Buffer.from(doc.signature, 'base64url');
  if (!verify(null, payloadBytes, publicKey, signature)) throw invalid('The licence signature does not match the vendor key.');
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(payloadBytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw invalid('The licence payload is not JSON.');
  }
  const tier = p.tier;
  if (tier !== 'Essential' && tier !== 'Pro' && tier !== 'Elite' && tier !== 'Custom') {
    throw invalid('Wrong value supplied for field "tier". Valid values are Essential, Pro, Elite, Custom.');
  }
  const base: Limits = tier === 'Custom' ? { relays: 0, users: 0, protectedBytes: 0, maxFileSize: 0 } : { ...TIERS[tier] };
  const over = (p.limits ?? {}) as Record<string, unknown>;
  const limits: Limits = {
    relays: positive(over.relays ?? base.relays, 'limits.relays'),
    users: positive(over.users ?? base.users, 'limits.users'),
    protectedBytes: positive(over.protectedBytes ?? base.protectedBytes, 'limits.protectedBytes'),
    maxFileSize: positive(over.maxFileSize ?? base.maxFileSize, 'limits.maxFileSize')
  };
  const expiresAt = typeof p.expiresAt === 'string' ? p.expiresAt : null;
  if (expiresAt && new Date(expiresAt).getTime() < now.getTime()) throw invalid(`The licence expired on ${expiresAt}.`);
  return {
    id: String(p.id ?? ''),
    licensee: String(p.licensee ?? ''),
    tier,
    limits,
    issuedAt: String(p.issuedAt ?? ''),
    expiresAt,
    licensed: true
  };
}

export interface LicenseLog {
  info: (msg: string) => void;
  error: (msg: string) => void;
}

/** Loads the licence named by --license / KOFN_LICENSE; falls back to Essential limits and says why. */
export function loadLicense(path: string | undefined, publicKeyText: string | undefined, log: LicenseLog): License {
  if (!path) {
    log.info('kofn: running without a licence: Essential limits (3 relays, 10 users, 1 TB protected, 1 GB per file).');
    return UNLICENSED;
  }
  try {
    if (!publicKeyText) throw invalid('No vendor public key is configured (KOFN_LICENSE_PUBLIC_KEY).');
    const lic = verifyLicense(readFileSync(path, 'utf8'), parsePublicKey(publicKeyText));
    log.info(`kofn: licence ${lic.id} for ${lic.licensee}: ${lic.tier} (${lic.limits.relays} relays, ${lic.limits.users} users).`);
    return lic;
  } catch (err) {
    log.error(`kofn: licence ${path} refused (${(err as Error).message}); running with Essential limits.`);
    return UNLICENSED;
  }
}
