/**
 * Relay registry and relay identity.
 *
 * A relay joins only with a one-time enrollment token an administrator made (issue #13: with one join
 * secret shared by every relay, any relay could re-announce another's id with its own URL, receive that
 * relay's read tokens and, with its own share, rebuild files). Enrollment pins the relay's own Ed25519
 * public key and the coordinator assigns the relay id; every heartbeat afterwards is signed by that key
 * over the route and body, timestamped, and accepted only if strictly newer than the last one (replays
 * fail). A relay's URL, name, location and key change only by an administrator's action, recorded in the
 * administrator's history.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { and, asc, eq, gt, isNull, lt, ne, sql } from 'drizzle-orm';
import {
  KofnError,
  RELAY_CLOCK_SKEW_MS,
  RELAY_ENROLL_PATH,
  RELAY_HEARTBEAT_PATH,
  parseEnrollment,
  parseHeartbeat,
  parseRelayLabel,
  parseRelayUrl,
  relaySigningInput,
  type RelayReport,
  randomBase64url,
  randomUuid
} from '@kofn/shared';
import type { Db } from './db/index.js';
import { relayEnrollments, relays } from './db/schema.js';
import { record } from './history.js';

export interface RelayView {
  id: string;
  name: string;
  url: string;
  location: string;
  version: string;
  storage: string;
  /** Null: the relay's store reports no free space (S3); shown as "not reported". */
  freeBytes: number | null;
  usedBytes: number;
  lastHeartbeat: string;
  status: 'online' | 'offline';
  /** False for a relay registered before relay identity: it must be enrolled again to heartbeat. */
  enrolled: boolean;
  /** SHA-256 of its public key, as the relay prints it at start, for the operator to compare. */
  fingerprint: string | null;
  /** Only `active` relays take new shares (relay-lifecycle.ts). */
  lifecycle: (typeof relays.$inferSelect)['lifecycle'];
  /** Issue #21: the group an administrator put it in (a cloud, a site) for two-level layouts; null: none. */
  group: string | null;
}

/** Enrollment tokens are short-lived: an administrator hands one to an operator who starts the relay. */
export const ENROLLMENT_TTL_MS = 24 * 3600_000;
// Advisory lock shared by every enrollment, so the licence's relay cap holds under parallel enrollments.
const ENROLL_LOCK = 7103;

export function fingerprintOf(publicKey: string): string {
  const hex = createHash('sha256').update(Buffer.from(publicKey, 'base64url')).digest('hex').slice(0, 32);
  return hex.match(/.{4}/g)!.join(':');
}

export function hashEnrollmentToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Orders relays for taking a whole share: most free space first. A relay whose store reports no free space
 * (S3) comes after every relay that reports some: a reported figure is known room, an unreported one is not.
 */
export function byFreeSpace(a: { freeBytes: number | null }, b: { freeBytes: number | null }): number {
  return (b.freeBytes ?? -1) - (a.freeBytes ?? -1);
}

function isOnline(lastHeartbeat: Date, now: Date, offlineAfterMs: number): boolean {
  return now.getTime() - lastHeartbeat.getTime() <= offlineAfterMs;
}

export async function listRelays(db: Db, now: Date, offlineAfterMs: number): Promise<RelayView[]> {
  const rows = await db.select().from(relays).orderBy(asc(relays.name), asc(relays.id));
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    url: r.url,
    location: r.location,
    version: r.version,
    storage: r.storage,
    freeBytes: r.freeBytes,
    usedBytes: r.usedBytes,
    lastHeartbeat: r.lastHeartbeat.toISOString(),
    status: r.publicKey !== null && isOnline(r.lastHeartbeat, now, offlineAfterMs) ? 'online' : 'offline',
    enrolled: r.publicKey !== null,
    fingerprint: r.publicKey === null ? null : fingerprintOf(r.publicKey),
    lifecycle: r.lifecycle,
    group: r.groupLabel
  }));
}

export async function countRelays(db: Db): Promise<number> {
  // Retired relays (relay-lifecycle.ts) do not count against the licence.
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(relays)
    .where(ne(relays.lifecycle, 'retired'));
  return row?.n ?? 0;
}

// ---------------------------------------------------------------------------------------------------
// Enrollment tokens (administrator)

export interface EnrollmentView {
  id: string;
  label: string;
  relayId: string | null;
  createdAt: string;
  expiresAt: string;
}

/**
 * Makes a one-time enrollment token. With `relayId`, the token re-keys that relay (a new key after a
 * loss, or a relay registered with the old join secret); without, it admits a new relay. Only the token's
 * hash is stored: the token is shown once.
 */
export async function createEnrollment(db: Db, input: { label: unknown; relayId?: unknown; createdBy: string | null }, now = new Date()): Promise<{ token: string; enrollment: EnrollmentView }> {
  const label = parseRelayLabel(input.label, 'label');
  let relayId: string | null = null;
  if (input.relayId !== undefined && input.relayId !== null) {
    if (typeof input.relayId !== 'string') throw new KofnError('BAD_REQUEST', 'Wrong value supplied for field "relayId". Expected the id of a registered storage server.');
    const [known] = await db.select({ id: relays.id }).from(relays).where(eq(relays.id, input.relayId));
    if (!known) throw new KofnError('NOT_FOUND', 'No such storage server.');
    relayId = known.id;
  }
  const token = randomBase64url(32);
  const row = {
    id: randomUuid(),
    tokenHash: hashEnrollmentToken(token),
    label,
    relayId,
    createdBy: input.createdBy,
    createdAt: now,
    expiresAt: new Date(now.getTime() + ENROLLMENT_TTL_MS)
  };
  await db.insert(relayEnrollments).values(row);
  if (input.createdBy) {
    await record(db, { userId: input.createdBy, operation: 'relay_enrollment', fileName: label, result: 'ok', detail: relayId ? `new key for storage server ${relayId}` : 'new storage server' });
  }
  return { token, enrollment: { id: row.id, label, relayId, createdAt: row.createdAt.toISOString(), expiresAt: row.expiresAt.toISOString() } };
}

export async function listEnrollments(db: Db, now = new Date()): Promise<EnrollmentView[]> {
  const rows = await db
    .select()
    .from(relayEnrollments)
    .where(and(isNull(relayEnrollments.usedAt), gt(relayEnrollments.expiresAt, now)))
    .orderBy(asc(relayEnrollments.createdAt));
  return rows.map((r) => ({ id: r.id, label: r.label, relayId: r.relayId, createdAt: r.createdAt.toISOString(), expiresAt: r.expiresAt.toISOString() }));
}

export async function revokeEnrollment(db: Db, id: string): Promise<void> {
  const gone = await db
    .delete(relayEnrollments)
    .where(and(eq(relayEnrollments.id, id), isNull(relayEnrollments.usedAt)))
    .returning({ id: relayEnrollments.id });
  if (gone.length === 0) throw new KofnError('NOT_FOUND', 'No such pending enrollment.');
}

/**
 * Enrollment tokens provisioned by whoever runs the coordinator (the one-machine launcher writes their
 * hashes to a file named by `KOFN_RELAY_ENROLLMENTS`): the same trust as an administrator, since that
 * person controls the coordinator's environment. Idempotent: a hash already known is left as it is.
 */
export async function importProvisionedEnrollments(db: Db, entries: unknown, now = new Date()): Promise<number> {
  if (!Array.isArray(entries)) throw new KofnError('BAD_REQUEST', 'Provisioned enrollments must be a JSON array.');
  let added = 0;
  for (const e of entries) {
    const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    if (typeof o.tokenHash !== 'string' || !/^[0-9a-f]{64}$/.test(o.tokenHash)) throw new KofnError('BAD_REQUEST', 'A provisioned enrollment needs tokenHash (SHA-256 hex).');
    const label = parseRelayLabel(o.label, 'label');
    const relayId = typeof o.relayId === 'string' ? o.relayId : null;
    // A relay id named here must exist already (a relay registered with the old join secret).
    if (relayId !== null && (await db.select({ id: relays.id }).from(relays).where(eq(relays.id, relayId))).length === 0) continue;
    const inserted = await db
      .insert(relayEnrollments)
      .values({ id: randomUuid(), tokenHash: o.tokenHash, label, relayId, createdBy: null, createdAt: now, expiresAt: new Date(now.getTime() + ENROLLMENT_TTL_MS) })
      .onConflictDoNothing()
      .returning({ id: relayEnrollments.id });
    added += inserted.length;
  }
  return added;
}

// ---------------------------------------------------------------------------------------------------
// Signed relay messages

const SIGNATURE = /^[A-Za-z0-9_-]{85}[AQgw]$/; // 64 bytes, canonical unpadded base64url
const BAD_SIGNATURE = 'The storage server\u2019s signature is not valid.';

function verifySigned(publicKey: string, path: string, body: Uint8Array, signature: string | null): boolean {
  if (!signature || !SIGNATURE.test(signature)) return false;
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
    return verify(null, relaySigningInput(path, body), key, Buffer.from(signature, 'base64url'));
  } catch {
    // A malformed key cannot verify anything: the same answer as a wrong signature.
    return false;
  }
}

function parseBody<T>(body: Uint8Array, parse: (v: unknown) => T): T {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new KofnError('BAD_REQUEST', 'Body is not valid UTF-8 JSON.');
  }
  return parse(json);
}

function checkClock(at: number, now: Date): void {
  if (Math.abs(at - now.getTime()) > RELAY_CLOCK_SKEW_MS) {
    throw new KofnError('RELAY_SIGNATURE_INVALID', 'The storage server\u2019s message is too old or from the future: check its clock.');
  }
}

function usageOf(r: RelayReport, now: Date) {
  return { version: r.version, storage: r.storage, freeBytes: r.freeBytes, usedBytes: r.usedBytes, lastHeartbeat: now };
}

/**
 * A relay enrolls: the body names the token and the relay's public key and is signed by that key (so the
 * relay proves it holds the private key). The token is consumed in the same transaction that pins the
 * key. A relay whose answer was lost may present the same token with the same key again and gets the
 * same id; any other reuse of a token is refused.
 */
export async function enrollRelay(db: Db, body: Uint8Array, signature: string | null, relayLimit: number, now = new Date()): Promise<{ relayId: string }> {
  const e = parseBody(body, parseEnrollment);
  if (!verifySigned(e.publicKey, RELAY_ENROLL_PATH, body, signature)) throw new KofnError('RELAY_SIGNATURE_INVALID', BAD_SIGNATURE);
  checkClock(e.at, now);
  const invalid = () => new KofnError('ENROLLMENT_INVALID', 'Unknown, used or expired enrollment token.');
  const outcome = await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${ENROLL_LOCK})`);
    const [token] = await tx
      .select()
      .from(relayEnrollments)
      .where(eq(relayEnrollments.tokenHash, hashEnrollmentToken(e.token)))
      .for('update');
    if (!token) throw invalid();
    if (token.usedAt) {
      if (token.usedWithKey === e.publicKey && token.usedByRelay) return { relayId: token.usedByRelay, createdBy: null, replaced: false };
      throw invalid();
    }
    if (token.expiresAt.getTime() <= now.getTime()) throw invalid();
    const [keyOwner] = await tx.select({ id: relays.id }).from(relays).where(eq(relays.publicKey, e.publicKey));
    if (keyOwner && keyOwner.id !== token.relayId) throw new KofnError('CONFLICT', 'This key already belongs to another storage server.');

    let relayId: string;
    if (token.relayId) {
      // Re-keying an existing relay: its URL, name and location stay what an administrator set.
      relayId = token.relayId;
      await tx
        .update(relays)
        .set({ publicKey: e.publicKey, lastSignedAt: e.at, ...usageOf(e, now) })
        .where(eq(relays.id, relayId));
    } else {
      // A retired relay (relay-lifecycle.ts) holds nothing and takes nothing: it no longer counts.
      const [{ n }] = (await tx
        .select({ n: sql<number>`count(*)::int` })
        .from(relays)
        .where(ne(relays.lifecycle, 'retired'))) as [{ n: number }];
      if (n >= relayLimit) {
        console.warn(`kofn: licence limit reached: ${relayLimit} relays; enrollment of ${e.name} refused.`);
        throw new KofnError('LICENSE_LIMIT', `The licence allows ${relayLimit} storage servers.`);
      }
      const [urlOwner] = await tx.select({ id: relays.id }).from(relays).where(eq(relays.url, e.url));
      if (urlOwner) throw new KofnError('RELAY_URL_IN_USE', 'Another storage server is registered at this URL.');
      relayId = randomUuid();
      await tx.insert(relays).values({ id: relayId, name: e.name, location: e.location, url: e.url, publicKey: e.publicKey, lastSignedAt: e.at, registeredAt: now, ...usageOf(e, now) });
    }
    await tx.update(relayEnrollments).set({ usedAt: now, usedByRelay: relayId, usedWithKey: e.publicKey }).where(eq(relayEnrollments.id, token.id));
    return { relayId, createdBy: token.createdBy, replaced: token.relayId !== null };
  });
  if (outcome.createdBy) {
    await record(db, {
      userId: outcome.createdBy,
      operation: 'relay_enrolled',
      fileName: e.name,
      result: 'ok',
      detail: `${outcome.replaced ? 'key replaced for' : 'enrolled'} storage server ${outcome.relayId} at ${e.url}, key ${fingerprintOf(e.publicKey)}`
    });
  }
  return { relayId: outcome.relayId };
}

/**
 * A signed heartbeat: updates usage and liveness only. The timestamp must be within the clock skew and
 * strictly newer than the last accepted one; the check and the update are one conditional UPDATE, so two
 * copies of one message racing each other cannot both pass.
 */
export async function acceptHeartbeat(db: Db, body: Uint8Array, signature: string | null, now = new Date()): Promise<{ registered: { url: string; name: string; location: string } }> {
  const h = parseBody(body, parseHeartbeat);
  const [relay] = await db.select().from(relays).where(eq(relays.id, h.relayId));
  if (!relay) throw new KofnError('RELAY_SIGNATURE_INVALID', BAD_SIGNATURE);
  if (relay.publicKey === null) throw new KofnError('ENROLLMENT_REQUIRED', 'This storage server must be enrolled with a token from an administrator.');
  if (!verifySigned(relay.publicKey, RELAY_HEARTBEAT_PATH, body, signature)) throw new KofnError('RELAY_SIGNATURE_INVALID', BAD_SIGNATURE);
  checkClock(h.at, now);
  const updated = await db
    .update(relays)
    .set({ lastSignedAt: h.at, ...usageOf(h, now) })
    .where(and(eq(relays.id, h.relayId), lt(relays.lastSignedAt, h.at)))
    .returning({ url: relays.url, name: relays.name, location: relays.location });
  if (updated.length === 0) throw new KofnError('RELAY_SIGNATURE_INVALID', 'This message from the storage server was already received (replay).');
  return { registered: updated[0]! };
}

/**
 * Any other signed message from an enrolled relay (issue #16: scrub reports): the same checks as a
 * heartbeat (signature by the pinned key over route and body, clock skew, strictly newer than the last
 * accepted message, in one conditional UPDATE) without touching usage or liveness.
 */
export async function acceptSignedRelayMessage<T extends { relayId: string; at: number }>(
  db: Db,
  path: string,
  body: Uint8Array,
  signature: string | null,
  parse: (v: unknown) => T,
  now = new Date()
): Promise<{ message: T }> {
  const m = parseBody(body, parse);
  const [relay] = await db.select().from(relays).where(eq(relays.id, m.relayId));
  if (!relay) throw new KofnError('RELAY_SIGNATURE_INVALID', BAD_SIGNATURE);
  if (relay.publicKey === null) throw new KofnError('ENROLLMENT_REQUIRED', 'This storage server must be enrolled with a token from an administrator.');
  if (!verifySigned(relay.publicKey, path, body, signature)) throw new KofnError('RELAY_SIGNATURE_INVALID', BAD_SIGNATURE);
  checkClock(m.at, now);
  const updated = await db
    .update(relays)
    .set({ lastSignedAt: m.at })
    .where(and(eq(relays.id, m.relayId), lt(relays.lastSignedAt, m.at)))
    .returning({ id: relays.id });
  if (updated.length === 0) throw new KofnError('RELAY_SIGNATURE_INVALID', 'This message from the storage server was already received (replay).');
  return { message: m };
}

// ---------------------------------------------------------------------------------------------------
// Administrator changes

export async function updateRelay(db: Db, adminId: string, id: string, patch: Record<string, unknown>): Promise<RelayView['id']> {
  const set: Partial<typeof relays.$inferInsert> = {};
  if (patch.name !== undefined) set.name = parseRelayLabel(patch.name, 'name');
  if (patch.location !== undefined) set.location = parseRelayLabel(patch.location, 'location');
  if (patch.url !== undefined) set.url = parseRelayUrl(patch.url);
  // Issue #21: the relay's group for two-level layouts; null or "" takes it out of any group.
  if (patch.group !== undefined) set.groupLabel = patch.group === null || patch.group === '' ? null : parseRelayLabel(patch.group, 'group');
  if (Object.keys(set).length === 0) throw new KofnError('BAD_REQUEST', 'Nothing to change: give name, location, url or group.');
  const [before] = await db.select().from(relays).where(eq(relays.id, id));
  if (!before) throw new KofnError('NOT_FOUND', 'No such storage server.');
  if (set.url !== undefined) {
    const [urlOwner] = await db
      .select({ id: relays.id })
      .from(relays)
      .where(and(eq(relays.url, set.url), ne(relays.id, id)));
    if (urlOwner) throw new KofnError('RELAY_URL_IN_USE', 'Another storage server is registered at this URL.');
  }
  await db.update(relays).set(set).where(eq(relays.id, id));
  const changes = (['name', 'location', 'url', 'groupLabel'] as const)
    .filter((f) => set[f] !== undefined && set[f] !== before[f])
    .map((f) => `${f}: ${before[f]} -> ${set[f]}`)
    .join('; ');
  await record(db, { userId: adminId, operation: 'relay_changed', fileName: set.name ?? before.name, result: 'ok', detail: `storage server ${id}: ${changes || 'no change'}` });
  return id;
}
