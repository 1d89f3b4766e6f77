/**
 * The messages a relay sends to the coordinator: its one-time enrollment (`POST /api/relays/enroll`) and
 * its heartbeats (`POST /api/relays/heartbeat`). Parsed here so relay and coordinator agree on one shape.
 *
 * Every message is signed by the relay's own Ed25519 key (RFC 8032) over `relaySigningInput(path, body)`:
 * the route is part of what is signed, so a signature made for one route is worthless on another, and each
 * body carries `at` (milliseconds since the epoch) that the coordinator requires to be recent and strictly
 * newer than the last message it accepted from that relay, so a captured message cannot be replayed.
 * The signature travels in the `X-Kofn-Relay-Signature` header as unpadded base64url.
 */
import { KofnError } from './errors.js';
import { isFileId } from './ids.js';

/** What a relay says about itself. Name, location and URL are only proposals: the coordinator keeps the
 * values fixed at enrollment, and only an administrator changes them. */
export interface RelayReport {
  name: string;
  location: string;
  url: string;
  version: string;
  storage: 'Disk' | 'S3';
  /**
   * Free space of the relay's store: a disk relay's file system (statfs), or null when the store has no
   * such figure (an S3 bucket has no free space to ask for; the UI says "not reported").
   */
  freeBytes: number | null;
  usedBytes: number;
}

export interface RelayEnrollment extends RelayReport {
  /** The one-time enrollment token an administrator made for this relay. */
  token: string;
  /** The relay's Ed25519 public key, 32 bytes as unpadded base64url (a JWK's `x`). */
  publicKey: string;
  at: number;
}

export interface RelayHeartbeat extends RelayReport {
  relayId: string;
  at: number;
}

export const RELAY_SIGNATURE_HEADER = 'x-kofn-relay-signature';
export const RELAY_ENROLL_PATH = '/api/relays/enroll';
export const RELAY_HEARTBEAT_PATH = '/api/relays/heartbeat';
/** Signed relay messages older or newer than this (relay clock against coordinator clock) are refused. */
export const RELAY_CLOCK_SKEW_MS = 120_000;

const SIGNING_CONTEXT = 'kofn-relay-signature-v1\n';

/** The bytes a relay signs: a context string, the route, then the exact request body. */
export function relaySigningInput(path: string, body: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(`${SIGNING_CONTEXT}${path}\n`);
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

export const RELAY_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Exactly 32 bytes in canonical unpadded base64url: 42 free characters and a last one with zero low bits.
const ED25519_KEY = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
const ENROLLMENT_TOKEN = /^[A-Za-z0-9_-]{20,128}$/;
// Printable text without control characters; names and locations are shown in the UI.
const LABEL = /^[^\p{Cc}\p{Cf}]{1,64}$/u;

function bad(field: string, expected: string): KofnError {
  return new KofnError('BAD_REQUEST', `Wrong value supplied for field "${field}". Expected ${expected}.`);
}

export function parseRelayLabel(v: unknown, field: string): string {
  if (typeof v !== 'string' || !LABEL.test(v)) throw bad(field, '1..64 printable characters');
  return v;
}

/** Byte counts are bounded by what a double holds exactly (2^53 - 1, about 9 PB). */
function bytes(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(field, 'a non-negative integer below 2^53');
  return v;
}

function object(input: unknown): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new KofnError('BAD_REQUEST', 'Expected a JSON object.');
  return input as Record<string, unknown>;
}

/** An http(s) base URL without credentials, query or fragment, normalised without a trailing slash. */
export function parseRelayUrl(v: unknown, field = 'url'): string {
  let url: URL;
  try {
    url = new URL(String(v));
  } catch {
    throw bad(field, 'an http(s) URL');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash) {
    throw bad(field, 'an http(s) URL without credentials, query or fragment');
  }
  return url.origin + url.pathname.replace(/\/$/, '');
}

function timestamp(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw bad('at', 'milliseconds since 1970 as an integer');
  return v;
}

function report(o: Record<string, unknown>): RelayReport {
  if (o.storage !== 'Disk' && o.storage !== 'S3') {
    throw new KofnError('BAD_REQUEST', 'Wrong value supplied for field "storage". Valid values are Disk, S3.');
  }
  return {
    name: parseRelayLabel(o.name, 'name'),
    location: parseRelayLabel(o.location, 'location'),
    url: parseRelayUrl(o.url),
    version: parseRelayLabel(o.version, 'version'),
    storage: o.storage,
    freeBytes: o.freeBytes === null ? null : bytes(o.freeBytes, 'freeBytes'),
    usedBytes: bytes(o.usedBytes, 'usedBytes')
  };
}

export function parseEnrollment(input: unknown): RelayEnrollment {
  const o = object(input);
  if (typeof o.token !== 'string' || !ENROLLMENT_TOKEN.test(o.token)) throw bad('token', 'an enrollment token');
  if (typeof o.publicKey !== 'string' || !ED25519_KEY.test(o.publicKey)) throw bad('publicKey', 'an Ed25519 public key in base64url');
  return { ...report(o), token: o.token, publicKey: o.publicKey, at: timestamp(o.at) };
}

export function parseHeartbeat(input: unknown): RelayHeartbeat {
  const o = object(input);
  if (typeof o.relayId !== 'string' || !RELAY_ID_PATTERN.test(o.relayId)) throw bad('relayId', 'a lowercase UUID');
  return { ...report(o), relayId: o.relayId, at: timestamp(o.at) };
}

// ---------------------------------------------------------------------------------------------------
// Scrub reports (issue #16, durability): a relay's `--scrub` tells the coordinator which stored chunks
// no longer match their digest, signed and replay-proof like a heartbeat.

export const RELAY_SCRUB_PATH = '/api/relays/scrub';
/** Chunks named in one report: a relay with more damage than this reports the first ones. */
export const MAX_SCRUB_ENTRIES = 10_000;
/** A report of MAX_SCRUB_ENTRIES entries is about 640 KB of JSON. */
export const MAX_SCRUB_REPORT_BYTES = 1024 * 1024;

export interface RelayScrubReport {
  relayId: string;
  at: number;
  /** Chunks the scrub read. */
  checked: number;
  /** Chunks whose bytes no longer match the digest recorded when they were stored. */
  corrupt: Array<{ fileId: string; index: number }>;
}

export function parseScrubReport(input: unknown): RelayScrubReport {
  const o = object(input);
  if (typeof o.relayId !== 'string' || !RELAY_ID_PATTERN.test(o.relayId)) throw bad('relayId', 'a lowercase UUID');
  if (!Array.isArray(o.corrupt) || o.corrupt.length > MAX_SCRUB_ENTRIES) throw bad('corrupt', `a list of at most ${MAX_SCRUB_ENTRIES} chunks`);
  const corrupt = o.corrupt.map((c: unknown) => {
    const e = typeof c === 'object' && c !== null ? (c as Record<string, unknown>) : {};
    if (typeof e.fileId !== 'string' || !isFileId(e.fileId)) throw bad('corrupt[].fileId', '32 lowercase hex digits');
    if (typeof e.index !== 'number' || !Number.isSafeInteger(e.index) || e.index < 0 || e.index > 0xffffffff) throw bad('corrupt[].index', 'a chunk index');
    return { fileId: e.fileId, index: e.index };
  });
  return { relayId: o.relayId, at: timestamp(o.at), checked: bytes(o.checked, 'checked'), corrupt };
}
