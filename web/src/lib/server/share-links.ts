/**
 * Share links (issue #19): a file readable without an account by whoever holds the link.
 *
 * The link is `/s/<id>#<secret>` (`#p.<secret>` when it has a password). The secret never reaches the
 * coordinator: the browser derives an Ed25519 key pair from secret and password (shared/src/link-proof.ts)
 * and the coordinator stores only the public key. Opening signs `open | id | time`; the coordinator
 * checks the signature and its time (within LINK_CLOCK_SKEW_MS of its own clock), refuses a proof it
 * accepted before (share_link_proofs keeps those of the window: replay), and in ONE
 * conditional UPDATE checks expiry, revocation, the file's status and the download limit while counting
 * the download, so parallel opens of a limit-1 link let exactly one through (row lock of the UPDATE).
 *
 * A database leak gives public keys: they verify proofs but cannot make one, so nobody can mint tokens
 * from it. (Whoever controls the coordinator can mint tokens anyway: ARCHITECTURE.md, known limit.)
 *
 * Enumeration: ids are 16 random bytes; an unknown id, a malformed id and a wrong proof (wrong secret or
 * wrong password) all answer LINK_INVALID after the same signature check (a fixed dummy key for unknown
 * ids). Expired, revoked, used-up and removed are told only to a valid proof.
 *
 * Password guessing: every proof attempt on a link is counted before the signature is checked, in one
 * conditional UPDATE, LINK_ATTEMPTS per LINK_ATTEMPT_WINDOW_MS; a valid proof resets the count. Past it the
 * link answers RATE_LIMITED with Retry-After. (Someone holding the id alone can thereby hold the recipient
 * up for a window, and learn that the id exists, which they knew from the URL.)
 *
 * Tokens minted for a link live LINK_TOKEN_TTL_S, or less when the coordinator's token lifetime
 * (KOFN_TOKEN_TTL_SECONDS) is shorter, so a revoked link stops a download in progress within that time: the recipient's page renews them (purpose `tokens`, no download counted) only while the link
 * is valid and within LINK_RENEW_WINDOW_MS of a counted open. The relay sees the subject `link:<id>`'s
 * pseudonym, which links neither to the owner nor to other links.
 */
import { createPublicKey, verify } from 'node:crypto';
import { newEd25519KeyPair } from '@kofn/shared/ed25519-keys';
import { and, desc, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import { KofnError, linkProofMessage, randomBase64url, type LinkProofPurpose, type LinkView } from '@kofn/shared';
import type { Db } from './db/index.js';
import { present } from './db/present.js';
import { files, shareLinkProofs, shareLinks } from './db/schema.js';
import type { SigningKey } from './signing-keys.js';
import type { CoordinatorConfig } from './config.js';
import { readManifest } from './files.js';
import { readTokensFor } from './capabilities.js';
import type { Ctx } from './file-access.js';
import { record } from './history.js';
import * as v from './validate.js';

export const LINK_ATTEMPTS = 10;
export const LINK_ATTEMPT_WINDOW_MS = 15 * 60_000;
/** Short, so revocation ends a download in progress within two minutes (the page renews). */
export const LINK_TOKEN_TTL_S = 120;
export const LINK_RENEW_WINDOW_MS = 6 * 3600_000;
export const LINK_MAX_LIFETIME_MS = 30 * 24 * 3600_000;
export const LINK_MAX_DOWNLOADS = 1_000_000;
/** How far a proof's time may be from the coordinator's clock (the page corrects by the Date header). */
export const LINK_CLOCK_SKEW_MS = 5 * 60_000;

const LINK_ID = /^[A-Za-z0-9_-]{22}$/;
const PUBLIC_KEY = /^[A-Za-z0-9_-]{43}$/;
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;
const NONCE = /^[A-Za-z0-9_-]{22}$/;

type LinkRow = typeof shareLinks.$inferSelect;

const at = (d: Date) => sql`${d.toISOString()}::timestamptz`;
const invalid = () => new KofnError('LINK_INVALID', 'This link is not valid, or the password is wrong.');
const notFound = () => new KofnError('NOT_FOUND', 'Link not found.');

/** A key nobody holds: unknown ids are checked against it so they take the same work as known ones. */
const DUMMY_KEY = dummyKey();

function dummyKey(): string {
  const { x } = newEd25519KeyPair().publicKey.export({ format: 'jwk' });
  // An Ed25519 public JWK always has x (RFC 8037 section 2); the type is JsonWebKey's, where it is optional.
  if (x === undefined) throw new Error('An Ed25519 public key exported without x.');
  return x;
}

/** RATE_LIMITED with the wait the HTTP layer sends as Retry-After. */
export class LinkThrottledError extends KofnError {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super('RATE_LIMITED', `Too many attempts on this link; try again in ${retryAfterSeconds} seconds.`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

function verifies(publicKey: string, message: Uint8Array, signature: string): boolean {
  try {
    return verify(null, message, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' }), Buffer.from(signature, 'base64url'));
  } catch {
    // A stored key is always well formed (checked at creation); a malformed signature is just invalid.
    return false;
  }
}

function expiry(v_: unknown, now: Date): Date {
  const t = typeof v_ === 'string' && v_.length <= 40 ? Date.parse(v_) : NaN;
  if (!Number.isFinite(t) || t <= now.getTime() + 60_000 || t > now.getTime() + LINK_MAX_LIFETIME_MS) {
    throw v.wrongValue('expiresAt', 'a time from one minute to 30 days ahead');
  }
  return new Date(t);
}

function downloadLimit(v_: unknown): number | null {
  return v_ === null || v_ === undefined ? null : v.integer(v_, 'maxDownloads', 1, LINK_MAX_DOWNLOADS);
}

function view(l: LinkRow, fileName: string, now: Date): LinkView {
  const state: LinkView['state'] = l.revokedAt ? 'revoked' : l.expiresAt <= now ? 'expired' : l.maxDownloads !== null && l.downloads >= l.maxDownloads ? 'used up' : 'active';
  return {
    id: l.id,
    fileId: l.fileId,
    fileName,
    passwordProtected: l.passwordProtected,
    expiresAt: l.expiresAt.toISOString(),
    maxDownloads: l.maxDownloads,
    downloads: l.downloads,
    lastDownloadAt: l.lastDownloadAt?.toISOString() ?? null,
    createdAt: l.createdAt.toISOString(),
    revokedAt: l.revokedAt?.toISOString() ?? null,
    state
  } satisfies LinkView;
}

export async function createLink(ctx: Ctx, input: Record<string, unknown>, now = new Date()) {
  const fileId = v.fileId(input.fileId);
  if (typeof input.publicKey !== 'string' || !PUBLIC_KEY.test(input.publicKey)) throw v.wrongValue('publicKey', 'an Ed25519 public key (base64url)');
  if (typeof input.passwordProtected !== 'boolean') throw v.wrongValue('passwordProtected', 'true, false');
  const expiresAt = expiry(input.expiresAt, now);
  const maxDownloads = downloadLimit(input.maxDownloads);
  const [file] = await ctx.db
    .select()
    .from(files)
    .where(and(eq(files.id, fileId), eq(files.ownerId, ctx.user.id), eq(files.status, 'available'), isNull(files.trashedAt)));
  if (!file) throw new KofnError('NOT_FOUND', 'File not found on the servers.');
  const [row] = await ctx.db
    .insert(shareLinks)
    .values({ id: randomBase64url(16), fileId, ownerId: ctx.user.id, publicKey: input.publicKey, passwordProtected: input.passwordProtected, expiresAt, maxDownloads })
    .returning();
  const link = present(row, 'the new link');
  await record(ctx.db, { userId: ctx.user.id, operation: 'link_create', fileId, fileName: file.name, result: 'ok', detail: linkDetail(link) });
  return view(link, file.name, now);
}

function linkDetail(l: LinkRow): string {
  const limit = l.maxDownloads === null ? 'no download limit' : `at most ${l.maxDownloads} download(s)`;
  return `link ${l.id}: until ${l.expiresAt.toISOString()}, ${limit}${l.passwordProtected ? ', password' : ''}`;
}

export async function listLinks(ctx: Ctx, rawFileId?: unknown, now = new Date()) {
  const mine = eq(shareLinks.ownerId, ctx.user.id);
  const where = rawFileId === undefined || rawFileId === null ? mine : and(mine, eq(shareLinks.fileId, v.fileId(rawFileId)));
  const rows = await ctx.db
    .select({ l: shareLinks, name: files.name })
    .from(shareLinks)
    .innerJoin(files, eq(files.id, shareLinks.fileId))
    .where(and(where, eq(files.status, 'available'), isNull(files.trashedAt)))
    .orderBy(desc(shareLinks.createdAt));
  return rows.map((r) => view(r.l, r.name, now));
}

async function ownedLink(ctx: Ctx, rawId: unknown) {
  if (typeof rawId !== 'string' || !LINK_ID.test(rawId)) throw notFound();
  const [r] = await ctx.db
    .select({ l: shareLinks, name: files.name })
    .from(shareLinks)
    .innerJoin(files, eq(files.id, shareLinks.fileId))
    .where(and(eq(shareLinks.id, rawId), eq(shareLinks.ownerId, ctx.user.id)));
  if (!r) throw notFound();
  return r;
}

/** Changes expiry and/or download limit of a link that is not revoked (a revoked link stays revoked). */
export async function editLink(ctx: Ctx, rawId: unknown, input: Record<string, unknown>, now = new Date()) {
  const { l, name } = await ownedLink(ctx, rawId);
  const set: Partial<Pick<LinkRow, 'expiresAt' | 'maxDownloads'>> = {};
  if ('expiresAt' in input) set.expiresAt = expiry(input.expiresAt, now);
  if ('maxDownloads' in input) set.maxDownloads = downloadLimit(input.maxDownloads);
  if (Object.keys(set).length === 0) throw v.wrongValue('expiresAt/maxDownloads', 'at least one of them');
  if (l.revokedAt) throw new KofnError('LINK_REVOKED', 'This link was revoked; make a new one.');
  const [row] = await ctx.db
    .update(shareLinks)
    .set(set)
    .where(and(eq(shareLinks.id, l.id), isNull(shareLinks.revokedAt)))
    .returning();
  if (!row) throw new KofnError('LINK_REVOKED', 'This link was revoked; make a new one.');
  await record(ctx.db, { userId: ctx.user.id, operation: 'link_edit', fileId: l.fileId, fileName: name, result: 'ok', detail: linkDetail(row) });
  return view(row, name, now);
}

/** Revokes at once: the next open or token renewal is refused (tokens already out expire within LINK_TOKEN_TTL_S). */
export async function revokeLink(ctx: Ctx, rawId: unknown, now = new Date()) {
  const { l, name } = await ownedLink(ctx, rawId);
  const [row] = await ctx.db
    .update(shareLinks)
    .set({ revokedAt: now })
    .where(and(eq(shareLinks.id, l.id), isNull(shareLinks.revokedAt)))
    .returning();
  if (row) await record(ctx.db, { userId: ctx.user.id, operation: 'link_revoke', fileId: l.fileId, fileName: name, result: 'ok', detail: `link ${l.id}` });
  return view(row ?? l, name, now);
}

export interface LinkCoordinator {
  db: Db;
  key: SigningKey;
  config: CoordinatorConfig;
}

/**
 * A recipient presents a proof: `open` counts a download and answers the manifest with read tokens;
 * `tokens` renews the tokens of a download in progress without counting one.
 */
export async function useLink(co: LinkCoordinator, rawId: unknown, input: Record<string, unknown>, purpose: LinkProofPurpose, now = new Date()) {
  const proofAt = input.at;
  const signature = input.signature;
  if (typeof proofAt !== 'number' || !Number.isSafeInteger(proofAt) || proofAt <= 0) throw v.wrongValue('at', 'a time in milliseconds');
  // Canonical base64url only: the last character has 4 spare bits, and a proof re-spelled with other
  // spare bits would otherwise pass as a new one (replay).
  if (typeof signature !== 'string' || !SIGNATURE.test(signature) || Buffer.from(signature, 'base64url').toString('base64url') !== signature) {
    throw v.wrongValue('signature', 'an Ed25519 signature (base64url)');
  }
  if (Math.abs(proofAt - now.getTime()) > LINK_CLOCK_SKEW_MS) throw new KofnError('BAD_REQUEST', "This device's clock is more than five minutes off; correct it and try again.");
  const id = typeof rawId === 'string' && LINK_ID.test(rawId) ? rawId : null;
  if (typeof input.nonce !== 'string' || !NONCE.test(input.nonce)) throw v.wrongValue('nonce', '16 random bytes (base64url)');
  // A download in progress names the epoch it reads, so a renewal's switch does not move it (read-epoch.ts, #15).
  if (input.epoch !== undefined && purpose !== 'tokens') throw v.wrongValue('epoch', 'absent except when renewing tokens');
  const asked = input.epoch === undefined ? undefined : v.integer(input.epoch, 'epoch', 0, 2 ** 31 - 1);
  // A download whose epoch was dropped goes on at the file's current one (shared/src/protocol/epoch-follow.ts):
  // `manifest: true` answers the current manifest (placements and tokens of the current epoch) like `open`,
  // but as a renewal of a download in progress, so no download is counted and a used-up link still finishes.
  if (input.manifest !== undefined && (purpose !== 'tokens' || input.manifest !== true || input.epoch !== undefined)) {
    throw v.wrongValue('manifest', 'absent, or true when renewing tokens without an epoch');
  }
  const message = linkProofMessage(purpose, id ?? '', proofAt, input.nonce);

  // Count the attempt before checking it, so parallel guesses cannot pass the limit (one row lock).
  const fresh = sql`${shareLinks.attemptsSince} <= ${at(new Date(now.getTime() - LINK_ATTEMPT_WINDOW_MS))}`;
  const [link] = id
    ? await co.db
        .update(shareLinks)
        .set({ attempts: sql`case when ${fresh} then 1 else ${shareLinks.attempts} + 1 end`, attemptsSince: sql`case when ${fresh} then ${at(now)} else ${shareLinks.attemptsSince} end` })
        .where(and(eq(shareLinks.id, id), or(fresh, lt(shareLinks.attempts, LINK_ATTEMPTS))))
        .returning()
    : [];
  if (!link) {
    const [held] = id ? await co.db.select({ since: shareLinks.attemptsSince }).from(shareLinks).where(eq(shareLinks.id, id)) : [];
    if (held) throw new LinkThrottledError(Math.max(1, Math.ceil((held.since.getTime() + LINK_ATTEMPT_WINDOW_MS - now.getTime()) / 1000)));
    verifies(DUMMY_KEY, message, signature);
    throw invalid();
  }
  if (!verifies(link.publicKey, message, signature)) throw invalid();

  // Each proof once: two recipients signing at nearly the same time both pass (a "newest time" rule
  // would refuse the one whose clock runs behind; the nonce keeps same-millisecond proofs apart); the
  // same proof again does not.
  const firstUse = await co.db.insert(shareLinkProofs).values({ linkId: link.id, signature, createdAt: now }).onConflictDoNothing().returning({ linkId: shareLinkProofs.linkId });
  if (firstUse.length === 0) throw new KofnError('LINK_REPLAYED', 'This request was already used; open the link again.');
  const valid = and(
    eq(shareLinks.id, link.id),
    isNull(shareLinks.revokedAt),
    gt(shareLinks.expiresAt, at(now)),
    // A file in the trash (issue #18) is removed as far as its links go, until the owner restores it.
    sql`exists (select 1 from ${files} where ${files.id} = ${shareLinks.fileId} and ${files.status} = 'available' and ${files.trashedAt} is null)`
  );
  const counted =
    purpose === 'open'
      ? and(valid, or(isNull(shareLinks.maxDownloads), lt(shareLinks.downloads, sql`${shareLinks.maxDownloads}`)))
      : and(valid, gt(shareLinks.downloads, 0), gt(shareLinks.lastDownloadAt, at(new Date(now.getTime() - LINK_RENEW_WINDOW_MS))));
  const [used] = await co.db
    .update(shareLinks)
    .set(purpose === 'open' ? { attempts: 0, downloads: sql`${shareLinks.downloads} + 1`, lastDownloadAt: now } : { attempts: 0 })
    .where(counted)
    .returning();
  const [file] = await co.db.select().from(files).where(eq(files.id, link.fileId));
  if (!used || !file) {
    const [l] = await co.db.select().from(shareLinks).where(eq(shareLinks.id, link.id));
    throw refusal(l ?? link, file, purpose, now);
  }
  // Never longer than a signed-in user's tokens live (config.ts tokenTtlS).
  const ttl = Math.min(LINK_TOKEN_TTL_S, co.config.tokenTtlS);
  if (purpose === 'tokens' && input.manifest === true) return readManifest(co.db, co.key, co.config, file, `link:${link.id}`, ttl, now);
  if (purpose === 'tokens') return readTokensFor(co.db, co.key, file, `link:${link.id}`, ttl, asked, now, co.config.renewalGraceMs);
  const left = used.maxDownloads === null ? '' : `, ${used.maxDownloads - used.downloads} left`;
  await record(co.db, { userId: link.ownerId, operation: 'link_use', fileId: file.id, fileName: file.name, result: 'ok', detail: `link ${link.id}: download ${used.downloads}${left}` });
  return readManifest(co.db, co.key, co.config, file, `link:${link.id}`, ttl, now);
}

/** Why a valid proof was refused, most final reason first. */
function refusal(l: LinkRow, file: typeof files.$inferSelect | undefined, purpose: LinkProofPurpose, now: Date): KofnError {
  if (l.revokedAt) return new KofnError('LINK_REVOKED', 'The owner revoked this link.');
  if (file?.status !== 'available' || file.trashedAt !== null) return new KofnError('NOT_FOUND', 'The file of this link was removed.');
  if (l.expiresAt <= now) return new KofnError('LINK_EXPIRED', 'This link has expired.');
  if (purpose === 'open') return new KofnError('LINK_EXHAUSTED', 'This link has reached its download limit.');
  return new KofnError('LINK_EXHAUSTED', 'This download is no longer open; open the link again.');
}

/**
 * How long an expired link is kept before maintenance forgets it: meanwhile a recipient who opens it is told
 * it expired (LINK_EXPIRED), not that it is not valid. Purged at expiry, a link opened a second after it was
 * answered as unknown whenever maintenance ran in between (seen in a CI run of e2e/tests/share-links.spec.ts).
 */
export const EXPIRED_LINK_KEPT_MS = 30 * 86_400_000;

/** Maintenance: links expired for EXPIRED_LINK_KEPT_MS are forgotten, and proofs too old to be accepted again anyway. */
export async function purgeExpiredLinks(db: Db, now = new Date()): Promise<number> {
  await db.delete(shareLinkProofs).where(lt(shareLinkProofs.createdAt, at(new Date(now.getTime() - 2 * LINK_CLOCK_SKEW_MS))));
  const gone = await db
    .delete(shareLinks)
    .where(lt(shareLinks.expiresAt, at(new Date(now.getTime() - EXPIRED_LINK_KEPT_MS))))
    .returning({ id: shareLinks.id });
  return gone.length;
}
