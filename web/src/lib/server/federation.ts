/**
 * Federation (issue #21 part 2; the design and its trust argument: shared/docs/federation.md). Two sides
 * live here, because every deployment is both:
 *
 * - As the deployment that stores a remote group (X): administrators issue *link tokens* to other
 *   deployments (bound to their web origin; only the SHA-256 is stored, as for API tokens); the link token
 *   reads X's public info and nothing else. Users bind a browser key (Ed25519, non-extractable in their
 *   browser) to their account here by signing in here; requests signed with that key (federation-proof.ts)
 *   reserve, get tokens for, commit, inspect and remove sub-files, through the same reservation,
 *   capability, commit and removal code as X's own users. X's relay tokens therefore go only to the
 *   browser holding the key: the linked deployment's coordinator, holding the link token, gets none.
 * - As the home deployment (H): administrators register X with the link token; H fetches X's public info
 *   (bounded in time and size, validated field by field) and keeps the token sealed at rest.
 */
import { createHash } from 'node:crypto';
import { and, count, eq, isNull, lt, sql } from 'drizzle-orm';
import {
  FEDERATION_PUBLIC_KEY,
  FEDERATION_WINDOW_MS,
  KofnError,
  isFileId,
  parseFederationHeader,
  randomBytes,
  randomHex,
  readBounded,
  verifyFederated,
  type ErrorCode,
  type FreshTokens,
  type FederationLinkView as LinkView,
  type RemoteStatus,
  type Reservation
} from '@kofn/shared';
import type { Db } from './db/index.js';
import { present } from './db/present.js';
import { federatedFiles, federationLinks, federationNonces, federationRemotes, federationUserLinks, files, relays, signingKeys, users } from './db/schema.js';
import { toUser, type User } from './auth.js';
import { isOnline, placementsOf, type Ctx } from './file-access.js';
import { reserveFile } from './reservations.js';
import { freshTokens } from './capabilities.js';
import { commitFile, removeFile } from './files.js';
import { originsOf } from './csp.js';
import { open as openSealed, seal } from './secret-box.js';
import type { CoordinatorConfig } from './config.js';
import * as v from './validate.js';

export const LINK_TOKEN_PREFIX = 'kofn_fed_';
const LINK_TOKEN_PATTERN = /^kofn_fed_[A-Za-z0-9_-]{43}$/;
const HANDLE = /^[0-9a-f]{32}$/;
export const MAX_LINK_NAME = 64;
export const MAX_LINK_DAYS = 3650;
export const MAX_LINKS = 100;
export const MAX_USER_LINKS_PER_USER = 20;
/** The most a remote's info answer may be (255 relays at a few hundred bytes each fit with room to spare). */
export const MAX_INFO_BYTES = 128 * 1024;
/** The longest H waits for X's info, answer body included. */
export const INFO_TIMEOUT_MS = 5000;
/** Federated request bodies are small JSON objects (reserve, commit roots of at most 255 relays). */
export const MAX_FEDERATED_BODY = 32 * 1024;
const LAST_USED_GRANULARITY_MS = 60_000;

const sha256hex = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex');

/**
 * A web origin from user input: http(s), no credentials, path, query or fragment. Plain http only for
 * loopback hosts (tests and one-machine setups): a real deployment's pages are HTTPS (ARCHITECTURE.md, Transport).
 */
export function webOrigin(raw: unknown, field: string): string {
  if (typeof raw !== 'string' || raw.length > 2048) throw v.wrongValue(field, 'an https:// origin');
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw v.wrongValue(field, 'an https:// origin');
  }
  const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
  if (
    !(url.protocol === 'https:' || (url.protocol === 'http:' && loopback)) ||
    url.username !== '' ||
    url.password !== '' ||
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search !== '' ||
    url.hash !== ''
  ) {
    throw v.wrongValue(field, 'an https:// origin (scheme, host and port only)');
  }
  return url.origin;
}

// ───────────────────────────── X: links issued to other deployments ─────────────────────────────

export type { LinkView };

type LinkRow = typeof federationLinks.$inferSelect;

function linkView(r: LinkRow, userLinks: number): LinkView {
  return {
    handle: r.handle,
    name: r.name,
    origin: r.origin,
    createdAt: r.createdAt.toISOString(),
    expiresAt: r.expiresAt?.toISOString() ?? null,
    revokedAt: r.revokedAt?.toISOString() ?? null,
    lastUsedAt: r.lastUsedAt?.toISOString() ?? null,
    userLinks
  };
}

/** Issues a link token for the deployment at `origin`; the secret is in the answer and nowhere else. */
export async function issueLink(db: Db, admin: User, input: Record<string, unknown>, now = new Date()): Promise<LinkView & { token: string }> {
  const name = v.text(input.name, 'name', MAX_LINK_NAME);
  const origin = webOrigin(input.origin, 'origin');
  const days = input.expiresInDays ?? null;
  if (days !== null && (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > MAX_LINK_DAYS)) {
    throw v.wrongValue('expiresInDays', `1..${MAX_LINK_DAYS}, or null for never`);
  }
  const token = LINK_TOKEN_PREFIX + Buffer.from(randomBytes(32)).toString('base64url');
  const row = await db.transaction(async (tx) => {
    // 7140: this module's lock, so parallel issues cannot pass the cap together.
    await tx.execute(sql`select pg_advisory_xact_lock(7140)`);
    const [c] = await tx.select({ n: count() }).from(federationLinks).where(isNull(federationLinks.revokedAt));
    if ((c?.n ?? 0) >= MAX_LINKS) throw new KofnError('CONFLICT', `There are ${MAX_LINKS} live federation links already: revoke one first.`);
    const [r] = await tx
      .insert(federationLinks)
      .values({ id: sha256hex(token), handle: randomHex(16), name, origin, createdBy: admin.id, createdAt: now, expiresAt: days === null ? null : new Date(now.getTime() + days * 86_400_000) })
      .returning();
    return present(r, 'the new federation link');
  });
  return { ...linkView(row, 0), token };
}

export async function listLinks(db: Db): Promise<LinkView[]> {
  const rows = await db.select().from(federationLinks).orderBy(federationLinks.createdAt, federationLinks.handle);
  const counts = await db.select({ linkId: federationUserLinks.linkId, n: count() }).from(federationUserLinks).where(isNull(federationUserLinks.revokedAt)).groupBy(federationUserLinks.linkId);
  const by = new Map(counts.map((c) => [c.linkId, c.n]));
  return rows.map((r) => linkView(r, by.get(r.id) ?? 0));
}

/** Revokes a link at once: its token and every user link made under it stop working (FEDERATION_REVOKED). */
export async function revokeLink(db: Db, handle: unknown, now = new Date()): Promise<void> {
  if (typeof handle !== 'string' || !HANDLE.test(handle)) throw new KofnError('NOT_FOUND', 'No such federation link.');
  const [gone] = await db
    .update(federationLinks)
    .set({ revokedAt: now })
    .where(and(eq(federationLinks.handle, handle), isNull(federationLinks.revokedAt)))
    .returning({ id: federationLinks.id });
  if (!gone) throw new KofnError('NOT_FOUND', 'No such federation link.');
}

/** Throws unless the link is in force: revoked and expired links answer their own codes. */
function assertLive(link: LinkRow, now: Date): void {
  if (link.revokedAt !== null) throw new KofnError('FEDERATION_REVOKED', 'This federation link was revoked by the administrators of this deployment.');
  if (link.expiresAt !== null && link.expiresAt <= now) throw new KofnError('FEDERATION_EXPIRED', 'This federation link has expired.');
}

/** The link a bearer link token names; unknown and malformed tokens are one error. */
export async function linkForToken(db: Db, authorization: string | null, now = new Date()): Promise<LinkRow> {
  const m = authorization !== null && authorization.length <= 256 ? /^Bearer (\S+)$/i.exec(authorization) : null;
  const token = m?.[1];
  if (token === undefined || !LINK_TOKEN_PATTERN.test(token)) throw new KofnError('FEDERATION_INVALID', 'The federation link token is not valid.');
  const [link] = await db
    .select()
    .from(federationLinks)
    .where(eq(federationLinks.id, sha256hex(token)));
  if (!link) throw new KofnError('FEDERATION_INVALID', 'The federation link token is not valid.');
  assertLive(link, now);
  if (!link.lastUsedAt || now.getTime() - link.lastUsedAt.getTime() >= LAST_USED_GRANULARITY_MS) {
    await db.update(federationLinks).set({ lastUsedAt: now }).where(eq(federationLinks.id, link.id));
  }
  return link;
}

/** What a linked deployment learns about this one: public facts only. */
export interface RemoteInfo {
  deploymentId: string;
  name: string;
  /** base64url SHA-256 of this deployment's capability-signing public key (X's relays trust that key). */
  fingerprint: string;
  /** The link's handle (the user-link page at X names the link by it). */
  linkHandle: string;
  relays: RemoteRelay[];
}

export interface RemoteRelay {
  id: string;
  name: string;
  url: string;
  location: string;
  online: boolean;
}

/**
 * This deployment's identity: derived from its first capability-signing key, so it is stable for the
 * deployment's life and a linked deployment notices if another server answers at the same URL.
 */
export async function deploymentIdentity(db: Db): Promise<{ deploymentId: string; fingerprint: string }> {
  const [row] = await db.select({ publicJwk: signingKeys.publicJwk }).from(signingKeys).orderBy(signingKeys.createdAt, signingKeys.kid).limit(1);
  const x = (JSON.parse(present(row, 'the signing key').publicJwk) as { x?: unknown }).x;
  if (typeof x !== 'string') throw new Error('signing key has no public part');
  return {
    deploymentId: sha256hex(`kofn deployment v1\n${x}`).slice(0, 32),
    fingerprint: createHash('sha256').update(Buffer.from(x, 'base64url')).digest('base64url')
  };
}

/** GET /api/federation/remote/info with a link token: X's public info for the linked deployment. */
export async function remoteInfo(db: Db, config: CoordinatorConfig, authorization: string | null, name: string, now = new Date()): Promise<RemoteInfo> {
  const link = await linkForToken(db, authorization, now);
  const rows = await db.select().from(relays).where(eq(relays.lifecycle, 'active')).orderBy(relays.name, relays.id);
  return {
    ...(await deploymentIdentity(db)),
    name,
    linkHandle: link.handle,
    relays: rows
      .filter((r) => r.publicKey !== null)
      .slice(0, 255)
      .map((r) => ({ id: r.id, name: r.name, url: r.url, location: r.location, online: isOnline(r.lastHeartbeat, config, now) }))
  };
}

// ───────────────────────────── X: users' browser keys ─────────────────────────────

/** What the user-link page at X shows before the user approves. */
export async function linkPreview(db: Db, handle: unknown, now = new Date()): Promise<{ handle: string; name: string; origin: string }> {
  if (typeof handle !== 'string' || !HANDLE.test(handle)) throw new KofnError('NOT_FOUND', 'No such federation link.');
  const [link] = await db.select().from(federationLinks).where(eq(federationLinks.handle, handle));
  if (!link) throw new KofnError('NOT_FOUND', 'No such federation link.');
  assertLive(link, now);
  return { handle: link.handle, name: link.name, origin: link.origin };
}

export interface UserLinkView {
  id: string;
  linkName: string;
  origin: string;
  /** The first 16 characters of the browser key, as the approval page showed them. */
  keyPrefix: string;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/**
 * Binds a browser's public key to `user` for the link `input.link` (a handle), at X, from X's own page:
 * the route needs X's session and X's CSRF token, so the linked deployment cannot make one by itself.
 * `input.origin` must be the link's origin (the page will post the answer to exactly that origin).
 */
export async function bindUserLink(db: Db, user: User, input: Record<string, unknown>, now = new Date()): Promise<{ userLinkId: string; origin: string }> {
  const preview = await linkPreview(db, input.link, now);
  if (input.origin !== preview.origin) throw new KofnError('FEDERATION_ORIGIN', 'This federation link belongs to another deployment.');
  if (typeof input.publicKey !== 'string' || !FEDERATION_PUBLIC_KEY.test(input.publicKey)) throw v.wrongValue('publicKey', 'an Ed25519 public key (base64url)');
  const publicKey = input.publicKey;
  const [link] = await db.select({ id: federationLinks.id }).from(federationLinks).where(eq(federationLinks.handle, preview.handle));
  const linkId = present(link, 'the federation link').id;
  const id = await db.transaction(async (tx) => {
    await tx.select({ id: users.id }).from(users).where(eq(users.id, user.id)).for('update');
    const [existing] = await tx
      .select()
      .from(federationUserLinks)
      .where(and(eq(federationUserLinks.linkId, linkId), eq(federationUserLinks.publicKey, publicKey)));
    if (existing) {
      // The same browser approving twice (a reload of the popup) gets the same link; another account never does.
      if (existing.userId !== user.id || existing.revokedAt !== null) throw new KofnError('CONFLICT', 'This browser key is already linked: make a new one.');
      return existing.id;
    }
    const [c] = await tx
      .select({ n: count() })
      .from(federationUserLinks)
      .where(and(eq(federationUserLinks.userId, user.id), isNull(federationUserLinks.revokedAt)));
    if ((c?.n ?? 0) >= MAX_USER_LINKS_PER_USER) throw new KofnError('CONFLICT', `You have ${MAX_USER_LINKS_PER_USER} linked browsers already: unlink one first.`);
    const newId = randomHex(16);
    await tx.insert(federationUserLinks).values({ id: newId, linkId, userId: user.id, publicKey, createdAt: now });
    return newId;
  });
  return { userLinkId: id, origin: preview.origin };
}

export async function listUserLinks(db: Db, userId: string): Promise<UserLinkView[]> {
  const rows = await db
    .select({ ul: federationUserLinks, name: federationLinks.name, origin: federationLinks.origin })
    .from(federationUserLinks)
    .innerJoin(federationLinks, eq(federationLinks.id, federationUserLinks.linkId))
    .where(eq(federationUserLinks.userId, userId))
    .orderBy(federationUserLinks.createdAt, federationUserLinks.id);
  return rows.map(({ ul, name, origin }) => ({
    id: ul.id,
    linkName: name,
    origin,
    keyPrefix: ul.publicKey.slice(0, 16),
    createdAt: ul.createdAt.toISOString(),
    revokedAt: ul.revokedAt?.toISOString() ?? null,
    lastUsedAt: ul.lastUsedAt?.toISOString() ?? null
  }));
}

export async function revokeUserLink(db: Db, user: User, id: unknown, now = new Date()): Promise<void> {
  if (typeof id !== 'string' || !HANDLE.test(id)) throw new KofnError('NOT_FOUND', 'No such linked browser.');
  const [gone] = await db
    .update(federationUserLinks)
    .set({ revokedAt: now })
    .where(and(eq(federationUserLinks.id, id), eq(federationUserLinks.userId, user.id), isNull(federationUserLinks.revokedAt)))
    .returning({ id: federationUserLinks.id });
  if (!gone) throw new KofnError('NOT_FOUND', 'No such linked browser.');
}

// ───────────────────────────── X: signed requests from users' browsers ─────────────────────────────

export interface FederatedRequest {
  method: string;
  /** The URL's pathname. */
  path: string;
  origin: string | null;
  header: string | null;
  body: Uint8Array;
}

export interface Federated {
  userLinkId: string;
  origin: string;
  user: User;
}

const invalid = () => new KofnError('FEDERATION_INVALID', 'The federated request is not validly signed.');

/**
 * Checks a signed request (federation-proof.ts). The signature is checked before any state is told, so
 * without the browser's key every failure is FEDERATION_INVALID; with it: FEDERATION_ORIGIN (another web
 * origin than the link's), FEDERATION_REVOKED (link, user link or account), FEDERATION_EXPIRED (the link,
 * or the request's time outside the window), FEDERATION_REPLAYED (a nonce seen before).
 */
export async function authenticateFederated(db: Db, req: FederatedRequest, now = new Date()): Promise<Federated> {
  const proof = parseFederationHeader(req.header);
  if (!proof) throw invalid();
  const [row] = await db
    .select({ ul: federationUserLinks, link: federationLinks, user: users })
    .from(federationUserLinks)
    .innerJoin(federationLinks, eq(federationLinks.id, federationUserLinks.linkId))
    .innerJoin(users, eq(users.id, federationUserLinks.userId))
    .where(eq(federationUserLinks.id, proof.userLinkId));
  if (!row || !(await verifyFederated(row.ul.publicKey, proof, req.method, req.path, req.body))) throw invalid();
  // A browser sets Origin on every cross-origin request; a script elsewhere would need the key as well.
  if (req.origin !== row.link.origin) throw new KofnError('FEDERATION_ORIGIN', 'This request comes from another site than the linked deployment.');
  assertLive(row.link, now);
  if (row.ul.revokedAt !== null || row.user.disabled) throw new KofnError('FEDERATION_REVOKED', 'This browser is no longer linked to an account here.');
  if (Math.abs(now.getTime() - proof.time) > FEDERATION_WINDOW_MS) throw new KofnError('FEDERATION_EXPIRED', "The request's time is too far from this server's clock.");
  // Nonces older than the window can never be accepted again (the time check above), so they are forgotten.
  await db.delete(federationNonces).where(and(eq(federationNonces.userLinkId, row.ul.id), lt(federationNonces.expiresAt, now)));
  const fresh = await db
    .insert(federationNonces)
    .values({ userLinkId: row.ul.id, nonce: proof.nonce, expiresAt: new Date(proof.time + FEDERATION_WINDOW_MS) })
    .onConflictDoNothing()
    .returning({ nonce: federationNonces.nonce });
  if (fresh.length === 0) throw new KofnError('FEDERATION_REPLAYED', 'This signed request was already used.');
  if (!row.ul.lastUsedAt || now.getTime() - row.ul.lastUsedAt.getTime() >= LAST_USED_GRANULARITY_MS) {
    await db.update(federationUserLinks).set({ lastUsedAt: now }).where(eq(federationUserLinks.id, row.ul.id));
  }
  return { userLinkId: row.ul.id, origin: row.link.origin, user: toUser(row.user) };
}

/** Whether `origin` is one a link was ever issued for (CORS: such a page may read X's answers, errors included). */
export async function isLinkedOrigin(db: Db, origin: string | null): Promise<boolean> {
  if (origin === null || origin.length > 2048) return false;
  const [row] = await db.select({ id: federationLinks.id }).from(federationLinks).where(eq(federationLinks.origin, origin)).limit(1);
  return row !== undefined;
}

/** A sub-file made through this user link; any other file (the user's own included) is not found. */
async function federatedFile(ctx: Ctx, userLinkId: string, rawId: unknown): Promise<string> {
  if (!isFileId(rawId)) throw new KofnError('NOT_FOUND', 'File not found.');
  const [row] = await ctx.db
    .select({ id: federatedFiles.fileId })
    .from(federatedFiles)
    .where(and(eq(federatedFiles.fileId, rawId), eq(federatedFiles.userLinkId, userLinkId)));
  if (!row) throw new KofnError('NOT_FOUND', 'File not found.');
  return row.id;
}

const SUB_FILE_NAME = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * Reserves a sub-file for a remote group: `{ size, k, relays? , name? }`. The name is the browser's
 * choice (an opaque one by default; never the home deployment's file name). Reservation, licence and
 * quota are X's own (reservations.ts), so X counts its own relays and bytes.
 */
export async function remoteReserve(ctx: Ctx, userLinkId: string, input: Record<string, unknown>, now = new Date()): Promise<Reservation> {
  const name = input.name === undefined ? `remote-share-${randomHex(8)}` : input.name;
  if (typeof name !== 'string' || !SUB_FILE_NAME.test(name)) throw v.wrongValue('name', 'letters, digits, dot, dash, underscore (1..100)');
  const r = await reserveFile(
    ctx,
    { name, size: input.size, type: 'application/octet-stream', k: input.k, ...(input.relays === undefined ? {} : { relays: input.relays }), onConflict: 'keepBoth' },
    now
  );
  // The reservation is swept like any other if this insert never happens (a crash between the two).
  await ctx.db.insert(federatedFiles).values({ fileId: r.fileId, userLinkId, createdAt: now });
  return r;
}

export async function remoteTokens(ctx: Ctx, userLinkId: string, rawId: unknown, op: unknown): Promise<FreshTokens> {
  const id = await federatedFile(ctx, userLinkId, rawId);
  return freshTokens(ctx, id, op);
}

/** A sub-file's state and placements (no tokens: those come from remoteTokens). */
export async function remoteStatus(ctx: Ctx, userLinkId: string, rawId: unknown, now = new Date()): Promise<RemoteStatus> {
  const id = await federatedFile(ctx, userLinkId, rawId);
  const [file] = await ctx.db.select().from(files).where(eq(files.id, id));
  const f = present(file, 'the sub-file');
  const where = await placementsOf(ctx.db, id);
  return {
    fileId: f.id,
    status: f.status,
    size: f.size,
    k: f.k,
    n: f.n,
    chunkSize: f.chunkSize,
    chunkCount: f.chunkCount,
    epoch: f.epoch,
    placements: where.map((p) => ({ relayId: p.relayId, name: p.relay.name, url: p.relay.url, x: p.x, online: isOnline(p.relay.lastHeartbeat, ctx.config, now) }))
  };
}

export async function remoteCommit(ctx: Ctx, userLinkId: string, rawId: unknown, input: Record<string, unknown>, now = new Date()) {
  return commitFile(ctx, await federatedFile(ctx, userLinkId, rawId), { roots: input.roots }, now);
}

export async function remoteRemove(ctx: Ctx, userLinkId: string, rawId: unknown, now = new Date()) {
  return removeFile(ctx, await federatedFile(ctx, userLinkId, rawId), now);
}

// ───────────────────────────── H: deployments linked here ─────────────────────────────

/** X refused H's link token: `remoteCode` is X's code (FEDERATION_REVOKED, FEDERATION_EXPIRED, ...). */
export class RemoteRefusedError extends KofnError {
  constructor(
    readonly remoteCode: string,
    message: string
  ) {
    super('FEDERATION_REMOTE_REFUSED', message);
  }
}

const badAnswer = (why: string) => new KofnError('FEDERATION_REMOTE_BAD_ANSWER', `The other deployment answered badly: ${why}.`);

function str(raw: unknown, field: string, max: number, pattern?: RegExp): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > max || /[\p{Cc}\p{Cf}]/u.test(raw) || (pattern && !pattern.test(raw))) throw badAnswer(`field "${field}"`);
  return raw;
}

/** X's info answer, checked field by field: nothing unchecked from another party is stored or shown. */
export function parseRemoteInfo(raw: unknown): RemoteInfo {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badAnswer('not a JSON object');
  const o = raw as Record<string, unknown>;
  if (!Array.isArray(o.relays) || o.relays.length > 255) throw badAnswer('field "relays"');
  const relayList = o.relays.map((r: unknown): RemoteRelay => {
    if (typeof r !== 'object' || r === null) throw badAnswer('a relay');
    const x = r as Record<string, unknown>;
    const url = str(x.url, 'relays.url', 2048);
    try {
      const u = new URL(url);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw badAnswer('a relay URL');
    } catch {
      throw badAnswer('a relay URL');
    }
    if (typeof x.online !== 'boolean') throw badAnswer('field "relays.online"');
    return {
      id: str(x.id, 'relays.id', 64, /^[A-Za-z0-9._-]+$/),
      name: str(x.name, 'relays.name', 100),
      url,
      location: typeof x.location === 'string' && x.location === '' ? '' : str(x.location, 'relays.location', 100),
      online: x.online
    };
  });
  return {
    deploymentId: str(o.deploymentId, 'deploymentId', 32, /^[0-9a-f]{32}$/),
    name: str(o.name, 'name', 100),
    fingerprint: str(o.fingerprint, 'fingerprint', 43, /^[A-Za-z0-9_-]{43}$/),
    linkHandle: str(o.linkHandle, 'linkHandle', 32, HANDLE),
    relays: relayList
  };
}

export interface FetchBounds {
  timeoutMs?: number;
  maxBytes?: number;
}

/** Asks X for its info with the link token: at most `timeoutMs` for the whole answer and `maxBytes` of it; no redirects. */
export async function fetchRemoteInfo(origin: string, token: string, bounds: FetchBounds = {}): Promise<RemoteInfo> {
  const timeoutMs = bounds.timeoutMs ?? INFO_TIMEOUT_MS;
  const maxBytes = bounds.maxBytes ?? MAX_INFO_BYTES;
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(`${origin}/api/federation/remote/info`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, redirect: 'error', signal });
  } catch {
    throw new KofnError('FEDERATION_REMOTE_UNREACHABLE', `The other deployment at ${origin} did not answer within ${timeoutMs / 1000} s.`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await readBounded(res.body, maxBytes, () => badAnswer(`more than ${maxBytes} bytes`));
  } catch (err) {
    if (err instanceof KofnError && err.code === 'FEDERATION_REMOTE_BAD_ANSWER') throw err;
    throw new KofnError('FEDERATION_REMOTE_UNREACHABLE', `The other deployment at ${origin} did not finish its answer within ${timeoutMs / 1000} s.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw badAnswer('not JSON');
  }
  if (!res.ok) {
    const code = (parsed as { error?: { code?: unknown } } | null)?.error?.code;
    const remoteCode = typeof code === 'string' && /^[A-Z_]{1,40}$/.test(code) ? code : `HTTP_${res.status}`;
    throw new RemoteRefusedError(remoteCode, `The other deployment refused the link (${remoteCode}).`);
  }
  return parseRemoteInfo(parsed);
}

export interface RemoteView {
  id: string;
  url: string;
  name: string;
  deploymentId: string;
  fingerprint: string;
  linkHandle: string;
  relays: RemoteRelay[];
  status: 'ok' | 'unreachable' | 'revoked';
  lastError: string | null;
  lastCheckedAt: string;
  createdAt: string;
}

type RemoteRow = typeof federationRemotes.$inferSelect;

function remoteView(r: RemoteRow): RemoteView {
  return {
    id: r.id,
    url: r.url,
    name: r.name,
    deploymentId: r.deploymentId,
    fingerprint: r.fingerprint,
    linkHandle: r.linkHandle,
    relays: r.relays as RemoteRelay[],
    status: r.status,
    lastError: r.lastError,
    lastCheckedAt: r.lastCheckedAt.toISOString(),
    createdAt: r.createdAt.toISOString()
  };
}

const sealOwner = (id: string) => `federation-remote:${id}`;

/** Registers X at this deployment with the link token X issued; X must answer its info now. */
export async function registerRemote(db: Db, secretKey: Uint8Array, input: Record<string, unknown>, bounds: FetchBounds = {}, now = new Date()): Promise<RemoteView> {
  const url = webOrigin(input.url, 'url');
  if (typeof input.token !== 'string' || !LINK_TOKEN_PATTERN.test(input.token)) throw v.wrongValue('token', `a federation link token (${LINK_TOKEN_PREFIX}...)`);
  const info = await fetchRemoteInfo(url, input.token, bounds);
  const self = await deploymentIdentity(db);
  if (info.deploymentId === self.deploymentId) throw new KofnError('CONFLICT', 'This is this deployment itself.');
  const id = randomHex(16);
  const [row] = await db
    .insert(federationRemotes)
    .values({
      id,
      url,
      name: info.name,
      deploymentId: info.deploymentId,
      fingerprint: info.fingerprint,
      linkHandle: info.linkHandle,
      linkToken: seal(secretKey, input.token, sealOwner(id)),
      relays: info.relays,
      status: 'ok',
      lastCheckedAt: now,
      createdAt: now
    })
    .onConflictDoNothing()
    .returning();
  if (!row) throw new KofnError('CONFLICT', 'This deployment is linked already.');
  return remoteView(row);
}

export async function listRemotes(db: Db): Promise<RemoteView[]> {
  return (await db.select().from(federationRemotes).orderBy(federationRemotes.createdAt, federationRemotes.id)).map(remoteView);
}

async function remoteRow(db: Db, id: unknown): Promise<RemoteRow> {
  if (typeof id !== 'string' || !HANDLE.test(id)) throw new KofnError('NOT_FOUND', 'No such linked deployment.');
  const [row] = await db.select().from(federationRemotes).where(eq(federationRemotes.id, id));
  if (!row) throw new KofnError('NOT_FOUND', 'No such linked deployment.');
  return row;
}

const REFUSED_AS_REVOKED: ReadonlySet<string> = new Set<ErrorCode>(['FEDERATION_REVOKED', 'FEDERATION_EXPIRED', 'FEDERATION_INVALID']);

/**
 * Asks X for its info again and records the outcome: `ok` with fresh relays; `revoked` when X refuses
 * the link token (revoked, expired, unknown); `unreachable` on no answer, a bad answer, or an answer as
 * another deployment (a changed identity is never taken over silently).
 */
export async function refreshRemote(db: Db, secretKey: Uint8Array, id: unknown, bounds: FetchBounds = {}, now = new Date()): Promise<RemoteView> {
  const row = await remoteRow(db, id);
  let update: Partial<RemoteRow>;
  try {
    const info = await fetchRemoteInfo(row.url, openSealed(secretKey, row.linkToken, sealOwner(row.id)), bounds);
    update =
      info.deploymentId !== row.deploymentId || info.fingerprint !== row.fingerprint
        ? { status: 'unreachable', lastError: 'The server at this address answered as another deployment.' }
        : { status: 'ok', lastError: null, name: info.name, relays: info.relays, linkHandle: info.linkHandle };
  } catch (err) {
    if (!(err instanceof KofnError)) throw err;
    update = { status: err instanceof RemoteRefusedError && REFUSED_AS_REVOKED.has(err.remoteCode) ? 'revoked' : 'unreachable', lastError: err.message };
  }
  const [out] = await db
    .update(federationRemotes)
    .set({ ...update, lastCheckedAt: now })
    .where(eq(federationRemotes.id, row.id))
    .returning();
  return remoteView(present(out, 'the linked deployment'));
}

export async function unlinkRemote(db: Db, id: unknown): Promise<void> {
  const row = await remoteRow(db, id);
  await db.delete(federationRemotes).where(eq(federationRemotes.id, row.id));
}

/** Origins this deployment's pages may connect to for federation: each linked deployment and its relays (csp.ts). */
export async function federationOrigins(db: Db): Promise<string[]> {
  const rows = await db.select({ url: federationRemotes.url, relays: federationRemotes.relays }).from(federationRemotes);
  return originsOf(rows.flatMap((r) => [r.url, ...(r.relays as RemoteRelay[]).map((x) => x.url)]));
}
