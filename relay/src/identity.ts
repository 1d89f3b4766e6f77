/**
 * A relay's identity: its own Ed25519 key pair (RFC 8032), made on first start from the platform CSPRNG
 * and kept in its state folder (`relay-key.pem`, mode 0600), and the relay id the coordinator assigned
 * when an administrator's one-time enrollment token pinned that key (`relay-id`).
 *
 * The relay never chooses its own id any more: an id taken from the relay let one relay announce itself as
 * another (issue #13, "relay impersonation reads plaintext"). A `relay-id` file written by an older relay
 * (which did choose its id) is kept, so its stored shares stay reachable after it is enrolled again with
 * a token an administrator made for that id.
 */
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { newEd25519KeyPair } from '@kofn/shared/ed25519-keys';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RELAY_ID_PATTERN, randomUuid } from '@kofn/shared';

export interface RelayKey {
  privateKey: KeyObject;
  /** 32-byte public key as unpadded base64url (the JWK `x`), the form the coordinator pins. */
  publicKey: string;
  /** Short fingerprint for operators to compare with the coordinator's admin page: SHA-256 of the key. */
  fingerprint: string;
}

const KEY_FILE = 'relay-key.pem';
const ID_FILE = 'relay-id';

function writeAtomic(file: string, data: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, file);
}

export function fingerprintOf(publicKey: string): string {
  const hex = createHash('sha256').update(Buffer.from(publicKey, 'base64url')).digest('hex').slice(0, 32);
  return (hex.match(/.{4}/g) ?? []).join(':');
}

function describeKey(privateKey: KeyObject): RelayKey {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error(`${KEY_FILE} is not an Ed25519 key`);
  return { privateKey, publicKey: jwk.x, fingerprint: fingerprintOf(jwk.x) };
}

export function loadOrCreateRelayKey(dir: string): RelayKey {
  const file = join(dir, KEY_FILE);
  try {
    return describeKey(createPrivateKey(readFileSync(file, 'utf8')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dir, { recursive: true });
  const { privateKey } = newEd25519KeyPair();
  writeAtomic(file, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
  return describeKey(privateKey);
}

/** The relay id this relay's data belongs to, if it has one (enrolled, or registered by an older relay). */
export function readRelayId(dir: string): string | undefined {
  try {
    const id = readFileSync(join(dir, ID_FILE), 'utf8').trim();
    return RELAY_ID_PATTERN.test(id) ? id : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return undefined;
  }
}

export function saveRelayId(dir: string, id: string): void {
  if (!RELAY_ID_PATTERN.test(id)) throw new Error('relay id must be a lowercase UUID');
  writeAtomic(join(dir, ID_FILE), `${id}\n`);
}

/** Marks this key as enrolled at that coordinator, so a restart heartbeats instead of enrolling again. */
const ENROLLED_FILE = 'enrolled.json';

export function readEnrollment(dir: string): { relayId: string; coordinator: string; publicKey: string } | undefined {
  try {
    const raw = JSON.parse(readFileSync(join(dir, ENROLLED_FILE), 'utf8')) as Record<string, unknown>;
    if (typeof raw.relayId === 'string' && RELAY_ID_PATTERN.test(raw.relayId) && typeof raw.coordinator === 'string' && typeof raw.publicKey === 'string') {
      return { relayId: raw.relayId, coordinator: raw.coordinator, publicKey: raw.publicKey };
    }
    return undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return undefined;
  }
}

export function saveEnrollment(dir: string, e: { relayId: string; coordinator: string; publicKey: string }): void {
  saveRelayId(dir, e.relayId);
  writeAtomic(join(dir, ENROLLED_FILE), `${JSON.stringify(e)}\n`);
}

/** Signs `input` with the relay key: Ed25519 takes no separate digest (node:crypto wants `null`). */
export function signWith(key: RelayKey, input: Uint8Array): string {
  return sign(null, input, key.privateKey).toString('base64url');
}

/**
 * Stand-alone relays (no coordinator: tests, benchmarks) have no one to assign an id: they keep a random
 * one of their own, from the platform CSPRNG, unless the operator sets `KOFN_RELAY_ID`.
 */
export function standaloneRelayId(dir: string): string {
  const known = readRelayId(dir);
  if (known) return known;
  mkdirSync(dir, { recursive: true });
  const id = randomUuid();
  saveRelayId(dir, id);
  return id;
}
