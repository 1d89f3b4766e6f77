/**
 * Licence: a JSON file `{ "license": base64url(payload JSON), "signature": base64url(Ed25519 signature of
 * those payload bytes) }`, verified against the vendor key built into the product (license-keys.ts; the
 * environment cannot supply one, issue #13 item 8a). Tiers (Qasmat): Essential / Pro / Elite = relays 3/5/10,
 * users 10/50/100, protected bytes 1/5/10 TB, max file size 1/5/10 GB (TB, GB = 10^12, 10^9 bytes of
 * plaintext, not n times it); a payload may override any limit. No licence: Essential limits.
 * `web/scripts/kofn-license.mjs` is the vendor side (keygen, issue, inspect).
 */
import { KeyObject, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KofnError } from '@kofn/shared';
import { trustedVendorKeys } from './license-keys.js';

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
  /** True when a licence was loaded but has since expired (Essential limits apply; see effectiveLicense). */
  expired?: boolean;
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

/** A licence's text field; a signed licence has strings here, and anything else reads as empty. */
function textField(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
}

function positive(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw invalid(`Licence field "${field}" must be a positive integer.`);
  return v;
}

/** Verifies a licence document against any of `publicKeys` and returns its effective limits. */
export function verifyLicense(text: string, publicKeys: KeyObject | readonly KeyObject[], now = new Date()): License {
  let doc: { license?: unknown; signature?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw invalid('The licence file is not JSON.');
  }
  if (typeof doc.license !== 'string' || typeof doc.signature !== 'string') throw invalid('The licence file lacks "license" or "signature".');
  const payloadBytes = Buffer.from(doc.license, 'base64url');
  const signature = Buffer.from(doc.signature, 'base64url');
  const keys = publicKeys instanceof KeyObject ? [publicKeys] : publicKeys;
  if (!keys.some((key) => verify(null, payloadBytes, key, signature))) throw invalid('The licence signature does not match the vendor key.');
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
  // An unparsable date would compare false forever, i.e. never expire.
  if (expiresAt !== null && Number.isNaN(Date.parse(expiresAt))) throw invalid('Licence field "expiresAt" is not a date.');
  if (isExpired(expiresAt, now)) throw invalid(`The licence expired on ${expiresAt}.`);
  return {
    id: textField(p.id),
    licensee: textField(p.licensee),
    tier,
    limits,
    issuedAt: textField(p.issuedAt),
    expiresAt,
    licensed: true
  };
}

function isExpired(expiresAt: string | null, now: Date): boolean {
  return expiresAt !== null && Date.parse(expiresAt) < now.getTime();
}

/**
 * The licence in force at `now` (issue #13 item 8d: expiry was checked only at start, so a coordinator
 * that kept running kept an expired licence's limits). Past its expiry a licence gives way to Essential
 * limits, exactly as running without a licence does; at those limits the usual behaviour applies
 * (blocked, message in the logs and, for storage and file size, in the UI). Nothing already stored is
 * touched: files stay readable and removable.
 */
export function effectiveLicense(lic: License, now: Date): License {
  if (!lic.licensed || !isExpired(lic.expiresAt, now)) return lic;
  return { ...UNLICENSED, limits: { ...TIERS.Essential }, id: lic.id, licensee: lic.licensee, issuedAt: lic.issuedAt, expiresAt: lic.expiresAt, expired: true };
}

/** The coordinator's licence, read at every use so expiry takes effect while it runs; says once when it expires. */
export class LicenseClock {
  #expiredLogged = false;
  constructor(
    readonly loaded: License,
    private readonly log: LicenseLog,
    private readonly clock: () => Date = () => new Date()
  ) {}

  current(): License {
    const lic = effectiveLicense(this.loaded, this.clock());
    if (lic.expired && !this.#expiredLogged) {
      this.#expiredLogged = true;
      this.log.error(`kofn: licence ${lic.id} for ${lic.licensee} expired on ${lic.expiresAt}; running with Essential limits (3 relays, 10 users, 1 TB protected, 1 GB per file).`);
    }
    return lic;
  }
}

export interface LicenseLog {
  info: (msg: string) => void;
  error: (msg: string) => void;
}

/**
 * Loads the licence named by --license / KOFN_LICENSE, verified with the keys this build trusts (tests
 * pass `keys` to check another build's choice); falls back to Essential limits and says why.
 */
export function loadLicense(path: string | undefined, log: LicenseLog, keys: readonly KeyObject[] = trustedVendorKeys()): License {
  if (!path) {
    log.info('kofn: running without a licence: Essential limits (3 relays, 10 users, 1 TB protected, 1 GB per file).');
    return UNLICENSED;
  }
  try {
    const lic = verifyLicense(readFileSync(path, 'utf8'), keys);
    log.info(`kofn: licence ${lic.id} for ${lic.licensee}: ${lic.tier} (${lic.limits.relays} relays, ${lic.limits.users} users).`);
    return lic;
  } catch (err) {
    log.error(`kofn: licence ${path} refused (${(err as Error).message}); running with Essential limits.`);
    return UNLICENSED;
  }
}
