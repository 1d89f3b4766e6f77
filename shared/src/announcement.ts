/**
 * The message a relay sends to the coordinator to announce itself and heartbeat
 * (`POST /api/relays/announce`). Parsed here so relay and coordinator agree on one shape.
 */
import { KofnError } from './errors.js';

export interface RelayAnnouncement {
  id: string;
  name: string;
  location: string;
  url: string;
  version: string;
  storage: 'Disk' | 'S3';
  freeBytes: number;
  usedBytes: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Printable text without control characters; names and locations are shown in the UI.
const LABEL = /^[^\p{Cc}\p{Cf}]{1,64}$/u;

function bad(field: string, expected: string): KofnError {
  return new KofnError('BAD_REQUEST', `Wrong value supplied for field "${field}". Expected ${expected}.`);
}

function label(v: unknown, field: string): string {
  if (typeof v !== 'string' || !LABEL.test(v)) throw bad(field, '1..64 printable characters');
  return v;
}

function bytes(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(field, 'a non-negative integer');
  return v;
}

export function parseAnnouncement(input: unknown): RelayAnnouncement {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new KofnError('BAD_REQUEST', 'Expected a JSON object.');
  const o = input as Record<string, unknown>;
  if (typeof o.id !== 'string' || !UUID.test(o.id)) throw bad('id', 'a lowercase UUID');
  let url: URL;
  try {
    url = new URL(String(o.url));
  } catch {
    throw bad('url', 'an http(s) URL');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash) {
    throw bad('url', 'an http(s) URL without credentials, query or fragment');
  }
  if (o.storage !== 'Disk' && o.storage !== 'S3') {
    throw new KofnError('BAD_REQUEST', 'Wrong value supplied for field "storage". Valid values are Disk, S3.');
  }
  return {
    id: o.id,
    name: label(o.name, 'name'),
    location: label(o.location, 'location'),
    url: url.origin + url.pathname.replace(/\/$/, ''),
    version: label(o.version, 'version'),
    storage: o.storage,
    freeBytes: bytes(o.freeBytes, 'freeBytes'),
    usedBytes: bytes(o.usedBytes, 'usedBytes')
  };
}
