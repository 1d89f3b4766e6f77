/**
 * Share links (issue #19) on PGlite and PostgreSQL with real relay processes: a recipient without an
 * account rebuilds the file from what a link proof gets; the coordinator keeps only a public key; limits,
 * expiry, revocation, replay, password throttling and enumeration.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { base64url, linkKey, newLinkSecret, signLinkProof, type LinkKey, type LinkProofPurpose } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { history, shareLinkProofs, shareLinks } from './db/schema.js';
import { createUser } from './auth.js';
import { ensureSigningKey, type SigningKey } from './signing-keys.js';
import { loadConfig, type CoordinatorConfig } from './config.js';
import { UNLICENSED } from './license.js';
import { removeFile } from './files.js';
import { restore, trashFile } from './trash.js';
import type { Ctx } from './file-access.js';
import { EXPIRED_LINK_KEPT_MS, LINK_ATTEMPTS, LINK_TOKEN_TTL_S, createLink, editLink, listLinks, purgeExpiredLinks, revokeLink, useLink } from './share-links.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect, retrieveWith } from './testing/protect.js';
import { renewOnce } from './renewal.js';

const code = async (p: Promise<unknown>): Promise<string | undefined> => {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
};
const failure = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: string; message?: string; retryAfterSeconds?: number };
    return { code: e.code, message: e.message, retryAfterSeconds: e.retryAfterSeconds };
  }
  throw new Error('expected a failure');
};

const inDays = (d: number, from = new Date()) => new Date(from.getTime() + d * 86400_000).toISOString();

describeDatabases('share links on $name', { once: true }, ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let key: SigningKey;
  let config: CoordinatorConfig;
  let alice: Ctx;
  let bob: Ctx;
  let fileId: string;
  const data = randomBytes(200_000);
  let co: { db: Database['db']; key: SigningKey; config: CoordinatorConfig };
  // Proof times must increase per link; tests sign with a clock of their own, ms apart.
  let clock = Date.now();
  const prove = (k: LinkKey, purpose: LinkProofPurpose, id: string) => signLinkProof(k, purpose, id, ++clock);
  const use = async (k: LinkKey, id: string, purpose: LinkProofPurpose = 'open', now = new Date(clock + 1)) => useLink(co, id, { ...(await prove(k, purpose, id)) }, purpose, now);

  async function newLink(input: Record<string, unknown> = {}, password?: string) {
    const secret = newLinkSecret();
    const k = await linkKey(secret, password);
    const link = await createLink(alice, { fileId, publicKey: k.publicKey, passwordProtected: password !== undefined, expiresAt: inDays(7), ...input });
    return { secret, key: k, link };
  }

  beforeAll(async () => {
    database = await open();
    key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 3);
    config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    co = { db: database.db, key, config };
    const license = { ...UNLICENSED, limits: { ...UNLICENSED.limits, users: 100 } };
    const mk = async (email: string) => ({ db: database.db, user: await createUser(database.db, { email, displayName: email, password: 'password 123', role: 'user' }, 100), license, key, config });
    alice = await mk('alice@x.test');
    bob = await mk('bob@x.test');
    fileId = await protect(alice, 'report.bin', data, 2);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await database.drop();
  });

  it('a recipient with the link rebuilds the file byte for byte; the database holds only a public key', async () => {
    const { secret, key: k, link } = await newLink();
    expect(link).toMatchObject({ fileId, fileName: 'report.bin', passwordProtected: false, maxDownloads: null, downloads: 0, state: 'active' });
    const m = await use(k, link.id);
    if (!('placements' in m)) throw new Error('expected a manifest');
    expect(Buffer.from(await retrieveWith(m)).equals(data)).toBe(true);
    const [row] = await database.db.select().from(shareLinks).where(eq(shareLinks.id, link.id));
    // Nothing derived from the secret but the public key: the secret and its hash are nowhere in the row.
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(base64url(secret));
    expect(row!.publicKey).toBe(k.publicKey);
    expect(row!.downloads).toBe(1);
    // The tokens are the link's own: short-lived, and their subject is not the owner's.
    const claims = JSON.parse(Buffer.from(m.placements[0]!.token.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number; sub: string; op: string };
    expect(claims.exp - claims.iat).toBe(LINK_TOKEN_TTL_S);
    expect(claims.op).toBe('get');
    // Never longer than users' tokens: with KOFN_TOKEN_TTL_SECONDS=30, a renewal's tokens live 30 s.
    const shortCo = { ...co, config: loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600', KOFN_TOKEN_TTL_SECONDS: '30' }) };
    const shortRenewal = await useLink(shortCo, link.id, { ...(await prove(k, 'tokens', link.id)) }, 'tokens', new Date(clock + 2));
    if (!('tokens' in shortRenewal)) throw new Error('expected tokens');
    const short = JSON.parse(Buffer.from(shortRenewal.tokens[0]!.token.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number };
    expect(short.exp - short.iat).toBe(30);
    const ownerManifest = await (await import('./files.js')).manifest(alice, fileId);
    const ownerSub = (JSON.parse(Buffer.from(ownerManifest.placements[0]!.token.split('.')[1]!, 'base64url').toString()) as { sub: string }).sub;
    expect(claims.sub).not.toBe(ownerSub);
    // Renewal gives fresh tokens without counting a download.
    const renewed = await use(k, link.id, 'tokens');
    expect('tokens' in renewed && renewed.tokens.length).toBe(3);
    expect((await listLinks(alice, fileId)).find((l) => l.id === link.id)?.downloads).toBe(1);
  });

  it('history records creation, use, edit and revocation for the owner', async () => {
    const { key: k, link } = await newLink({ maxDownloads: 3 });
    await use(k, link.id);
    await editLink(alice, link.id, { maxDownloads: 5 });
    await revokeLink(alice, link.id);
    const rows = await database.db.select().from(history).where(eq(history.userId, alice.user.id));
    const mine = rows.filter((r) => r.detail.includes(link.id)).map((r) => r.operation);
    expect(mine).toEqual(['link_create', 'link_use', 'link_edit', 'link_revoke']);
  });

  it('parallel opens of a limit-1 link: exactly one gets tokens', async () => {
    const { key: k, link } = await newLink({ maxDownloads: 1 });
    // As many as the attempt limit lets through at once (more would be RATE_LIMITED, also a refusal).
    const proofs = await Promise.all(Array.from({ length: LINK_ATTEMPTS }, () => prove(k, 'open', link.id)));
    const results = await Promise.allSettled(proofs.map((p) => useLink(co, link.id, { ...p }, 'open', new Date(clock + 1))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const codes = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as { code: string }).code);
    expect(codes).toEqual(Array(LINK_ATTEMPTS - 1).fill('LINK_EXHAUSTED'));
    expect(await code(use(k, link.id))).toBe('LINK_EXHAUSTED');
    const [row] = await database.db.select().from(shareLinks).where(eq(shareLinks.id, link.id));
    expect(row!.downloads).toBe(1);
  });

  it('a replayed proof is refused, for opening and for renewing', async () => {
    const { key: k, link } = await newLink();
    const p = await prove(k, 'open', link.id);
    await useLink(co, link.id, { ...p }, 'open', new Date(clock + 1));
    expect(await code(useLink(co, link.id, { ...p }, 'open', new Date(clock + 1)))).toBe('LINK_REPLAYED');
    const t = await prove(k, 'tokens', link.id);
    await useLink(co, link.id, { ...t }, 'tokens', new Date(clock + 1));
    expect(await code(useLink(co, link.id, { ...t }, 'tokens', new Date(clock + 1)))).toBe('LINK_REPLAYED');
    // Re-spelling the signature's spare base64url bits does not make a captured proof new.
    const last = p.signature.at(-1)!;
    const alias = p.signature.slice(0, -1) + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(last) ^ 1]!;
    expect(Buffer.from(alias, 'base64url').equals(Buffer.from(p.signature, 'base64url'))).toBe(true);
    expect(await code(useLink(co, link.id, { at: p.at, nonce: p.nonce, signature: alias }, 'open', new Date(clock + 1)))).toBe('WRONG_VALUE');
    // Two recipients signing in the same millisecond both get in (the nonce tells their proofs apart).
    const same = clock + 1;
    const [one, two] = [await signLinkProof(k, 'open', link.id, same), await signLinkProof(k, 'open', link.id, same)];
    expect(one.signature).not.toBe(two.signature);
    expect(await code(useLink(co, link.id, { ...one }, 'open', new Date(same)))).toBeUndefined();
    expect(await code(useLink(co, link.id, { ...two }, 'open', new Date(same)))).toBeUndefined();
    // Changing the nonce of a captured proof breaks its signature.
    expect(await code(useLink(co, link.id, { ...one, nonce: 'B'.repeat(22) }, 'open', new Date(same)))).toBe('LINK_INVALID');
    // Two recipients whose clocks differ both get in: the one signing "earlier" is not taken for a replay.
    const early = await signLinkProof(k, 'open', link.id, clock - 30_000);
    expect(await code(useLink(co, link.id, { ...early }, 'open', new Date(clock + 1)))).toBeUndefined();
    // A proof for one purpose or link does not serve another.
    const other = await newLink();
    expect(await code(useLink(co, other.link.id, { ...(await prove(k, 'open', link.id)) }, 'open', new Date(clock + 1)))).toBe('LINK_INVALID');
    expect(await code(useLink(co, link.id, { ...(await prove(k, 'tokens', link.id)) }, 'open', new Date(clock + 1)))).toBe('LINK_INVALID');
  });

  it('renewal needs a counted open first', async () => {
    const { key: k, link } = await newLink();
    expect(await code(use(k, link.id, 'tokens'))).toBe('LINK_EXHAUSTED');
  });

  it('enumeration: unknown ids, malformed ids and wrong secrets answer alike; ids carry nothing', async () => {
    const { link } = await newLink();
    const stranger = await linkKey(newLinkSecret());
    const wrongSecret = await failure(use(stranger, link.id));
    const unknownId = await failure(use(stranger, randomBytes(16).toString('base64url')));
    const malformed = await failure(use(stranger, '../../etc'));
    expect(wrongSecret).toEqual({ code: 'LINK_INVALID', message: wrongSecret.message, retryAfterSeconds: undefined });
    expect(unknownId).toEqual(wrongSecret);
    expect(malformed).toEqual(wrongSecret);
    expect(link.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(link.id).not.toContain(fileId.slice(0, 8));
    // A revoked or expired link looks the same as an unknown one to someone without its secret.
    await revokeLink(alice, link.id);
    expect(await failure(use(stranger, link.id))).toEqual(wrongSecret);
  });

  it('a password: the right one opens, wrong ones are refused, and the link throttles after the limit', async () => {
    const secret = newLinkSecret();
    const right = await linkKey(secret, 'correct horse battery');
    const wrong = await linkKey(secret, 'correct horse batterY');
    expect(wrong.publicKey).not.toBe(right.publicKey);
    const noPassword = await linkKey(secret);
    expect(noPassword.publicKey).not.toBe(right.publicKey);
    const link = await createLink(alice, { fileId, publicKey: right.publicKey, passwordProtected: true, expiresAt: inDays(1) });
    expect(await code(use(wrong, link.id))).toBe('LINK_INVALID');
    expect(await code(use(right, link.id))).toBeUndefined();
    // Parallel guesses: exactly LINK_ATTEMPTS are checked, the rest refused unchecked.
    const proofs = await Promise.all(Array.from({ length: LINK_ATTEMPTS + 8 }, () => prove(wrong, 'open', link.id)));
    const codes = await Promise.all(proofs.map((p) => code(useLink(co, link.id, { ...p }, 'open', new Date(clock + 1)))));
    expect(codes.filter((c) => c === 'LINK_INVALID')).toHaveLength(LINK_ATTEMPTS);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(8);
    // Now even the right password waits, with a Retry-After.
    const held = await failure(use(right, link.id));
    expect(held.code).toBe('RATE_LIMITED');
    expect(held.retryAfterSeconds).toBeGreaterThan(0);
    // After the window the right password opens again.
    clock += 16 * 60_000;
    expect(await code(use(right, link.id, 'open', new Date(clock + 1)))).toBeUndefined();
  });

  it('expiry: refused after it as expired (kept so, maintenance included, for EXPIRED_LINK_KEPT_MS), then forgotten', async () => {
    const { key: k, link } = await newLink({ expiresAt: inDays(1) });
    const later = new Date(Date.now() + 2 * 86400_000);
    expect(await code(useLink(co, link.id, { ...(await signLinkProof(k, 'open', link.id, later.getTime())) }, 'open', later))).toBe('LINK_EXPIRED');
    // Maintenance right after the expiry keeps the link: its recipient is still told it expired.
    await purgeExpiredLinks(database.db, later);
    expect(await code(useLink(co, link.id, { ...(await signLinkProof(k, 'open', link.id, later.getTime() + 1)) }, 'open', new Date(later.getTime() + 1)))).toBe('LINK_EXPIRED');
    const forgotten = new Date(Date.now() + 86400_000 + EXPIRED_LINK_KEPT_MS + 60_000);
    expect(await purgeExpiredLinks(database.db, forgotten)).toBeGreaterThanOrEqual(1);
    expect(await database.db.select().from(shareLinkProofs)).toEqual([]);
    expect(await database.db.select().from(shareLinks).where(eq(shareLinks.id, link.id))).toEqual([]);
  });

  it('revocation stops new tokens at once, renewal included', async () => {
    const { key: k, link } = await newLink();
    await use(k, link.id);
    const revoked = await revokeLink(alice, link.id);
    expect(revoked.state).toBe('revoked');
    expect(await code(use(k, link.id))).toBe('LINK_REVOKED');
    expect(await code(use(k, link.id, 'tokens'))).toBe('LINK_REVOKED');
    expect(await code(editLink(alice, link.id, { maxDownloads: 9 }))).toBe('LINK_REVOKED');
  });

  it('owners edit their links; other users can neither see, edit nor revoke them', async () => {
    const { key: k, link } = await newLink({ maxDownloads: 1 });
    await use(k, link.id);
    expect(await code(use(k, link.id))).toBe('LINK_EXHAUSTED');
    const edited = await editLink(alice, link.id, { maxDownloads: 2, expiresAt: inDays(2) });
    expect(edited).toMatchObject({ maxDownloads: 2, downloads: 1, state: 'active' });
    expect(await code(use(k, link.id))).toBeUndefined();
    expect(await listLinks(bob)).toEqual([]);
    expect(await code(editLink(bob, link.id, { maxDownloads: 100 }))).toBe('NOT_FOUND');
    expect(await code(revokeLink(bob, link.id))).toBe('NOT_FOUND');
    expect(await code(createLink(bob, { fileId, publicKey: k.publicKey, passwordProtected: false, expiresAt: inDays(1) }))).toBe('NOT_FOUND');
  });

  it('malformed input gets WRONG_VALUE or BAD_REQUEST, never a crash', async () => {
    const k = await linkKey(newLinkSecret());
    const good = { fileId, publicKey: k.publicKey, passwordProtected: false, expiresAt: inDays(1) };
    for (const bad of [
      { publicKey: 'x' },
      { publicKey: 'A'.repeat(10_000) },
      { passwordProtected: 'yes' },
      { expiresAt: 'tomorrow' },
      { expiresAt: inDays(31) },
      { expiresAt: new Date(Date.now() - 1000).toISOString() },
      { maxDownloads: 0 },
      { maxDownloads: 1.5 },
      { maxDownloads: '3' }
    ]) {
      expect(await code(createLink(alice, { ...good, ...bad }))).toBe('WRONG_VALUE');
    }
    expect(await code(createLink(alice, { ...good, fileId: 'nope' }))).toBe('NOT_FOUND');
    const { link } = await newLink();
    const nonce = 'A'.repeat(22);
    for (const bad of [
      {},
      { at: 'now', nonce, signature: 'x' },
      { at: Date.now(), nonce, signature: 'x'.repeat(86) + '=' },
      { at: -1, nonce, signature: 'A'.repeat(86) },
      { at: Date.now(), signature: 'A'.repeat(86) },
      { at: Date.now(), nonce: 'short', signature: 'A'.repeat(86) }
    ]) {
      expect(await code(useLink(co, link.id, bad, 'open'))).toBe('WRONG_VALUE');
    }
    // A proof dated far from the coordinator's clock is refused before anything is looked up.
    expect(await code(useLink(co, link.id, { ...(await signLinkProof(k, 'open', link.id, Date.now() - 3600_000)) }, 'open'))).toBe('BAD_REQUEST');
    expect(await code(editLink(alice, link.id, {}))).toBe('WRONG_VALUE');
    expect(await code(editLink(alice, 'not an id', { maxDownloads: 2 }))).toBe('NOT_FOUND');
  });

  it('a link to a file later removed is refused with a clear error and no longer listed', async () => {
    const other = await protect(alice, 'gone.bin', randomBytes(1000), 2);
    const k = await linkKey(newLinkSecret());
    const link = await createLink(alice, { fileId: other, publicKey: k.publicKey, passwordProtected: false, expiresAt: inDays(1) });
    await removeFile(alice, other);
    const f = await failure(use(k, link.id));
    expect(f).toMatchObject({ code: 'NOT_FOUND', message: 'The file of this link was removed.' });
    expect((await listLinks(alice)).map((l) => l.id)).not.toContain(link.id);
  });

  it('a link to a file in the trash is refused like a removed one, and works again once the file is restored', async () => {
    const other = await protect(alice, 'trashed.bin', randomBytes(1000), 2);
    const k = await linkKey(newLinkSecret());
    const link = await createLink(alice, { fileId: other, publicKey: k.publicKey, passwordProtected: false, expiresAt: inDays(1) });
    await trashFile(alice, other);
    expect(await failure(use(k, link.id))).toMatchObject({ code: 'NOT_FOUND', message: 'The file of this link was removed.' });
    expect((await listLinks(alice)).map((l) => l.id)).not.toContain(link.id);
    const k2 = await linkKey(newLinkSecret());
    expect(await code(createLink(alice, { fileId: other, publicKey: k2.publicKey, passwordProtected: false, expiresAt: inDays(1) }))).toBe('NOT_FOUND');
    await restore(alice, { files: [other] });
    const opened = await use(k, link.id);
    if (!('placements' in opened)) throw new Error('expected a manifest');
    expect(opened.placements.length).toBeGreaterThanOrEqual(2);
    expect((await listLinks(alice)).map((l) => l.id)).toContain(link.id);
  });

  it('a link download opened before a renewal renews its tokens at the epoch it opened, byte-identical (#15)', async () => {
    // The renewal's switch is stamped with the real time, and the grace is counted from it: this test signs and
    // asks at the real time (earlier tests moved the suite's clock past windows of 16 minutes and more). Its
    // link is new, so its proof times still grow.
    clock = Date.now();
    const renewedData = randomBytes(70_001);
    const renewedId = await protect(alice, 'renewed-link.bin', renewedData, 2);
    const { key: k, link } = await newLink({ fileId: renewedId });
    const m = await use(k, link.id);
    if (!('placements' in m)) throw new Error('expected a manifest');
    expect(m.epoch).toBe(0);
    expect(await renewOnce({ db: database.db, key, timeouts: { headersMs: 60_000, putHeadersMs: 60_000, idleMs: 60_000, totalMs: 120_000 } }, renewedId, 0)).toBe('renewed');
    const epochOf = (t: string) => (JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { ep?: number }).ep;
    // Renewing with the epoch it opened: epoch-0 tokens (no `ep`) that still rebuild the file.
    const kept = await useLink(co, link.id, { ...(await prove(k, 'tokens', link.id)), epoch: 0 }, 'tokens', new Date(clock + 1));
    if (!('tokens' in kept)) throw new Error('expected tokens');
    for (const t of kept.tokens) expect(epochOf(t.token)).toBeUndefined();
    const withKept = { ...m, placements: m.placements.map((p) => ({ ...p, token: kept.tokens.find((t) => t.relayId === p.relayId)!.token })) };
    expect(Buffer.from(await retrieveWith(withKept)).equals(renewedData)).toBe(true);
    // Without an epoch (an older client): the current one.
    const current = await use(k, link.id, 'tokens');
    if (!('tokens' in current)) throw new Error('expected tokens');
    for (const t of current.tokens) expect(epochOf(t.token)).toBe(1);
    // An epoch not kept, a malformed one, or one when opening: refused with a stable code.
    expect(await code(useLink(co, link.id, { ...(await prove(k, 'tokens', link.id)), epoch: 5 }, 'tokens', new Date(clock + 1)))).toBe('EPOCH_GONE');
    expect(await code(useLink(co, link.id, { ...(await prove(k, 'tokens', link.id)), epoch: 'zero' }, 'tokens', new Date(clock + 1)))).toBe('WRONG_VALUE');
    expect(await code(useLink(co, link.id, { ...(await prove(k, 'open', link.id)), epoch: 0 }, 'open', new Date(clock + 1)))).toBe('WRONG_VALUE');

    // A download whose epoch was dropped reads the current manifest (shared/src/protocol/epoch-follow.ts):
    // `manifest: true` with a tokens proof answers it, epoch 1 with its tokens, and counts no download.
    const downloads = async () => (await database.db.select().from(shareLinks).where(eq(shareLinks.id, link.id)))[0]!.downloads;
    const before = await downloads();
    const proof = await prove(k, 'tokens', link.id);
    const now1 = await useLink(co, link.id, { ...proof, manifest: true }, 'tokens', new Date(clock + 1));
    if (!('placements' in now1)) throw new Error('expected a manifest');
    expect(now1).toMatchObject({ fileId: renewedId, epoch: 1, size: renewedData.length, chunkCount: m.chunkCount, k: m.k });
    for (const pl of now1.placements) expect(epochOf(pl.token)).toBe(1);
    expect(Buffer.from(await retrieveWith(now1)).equals(renewedData)).toBe(true);
    expect(await downloads()).toBe(before);
    // Replayed, signed for another purpose or by another key, or malformed: refused, nothing answered.
    expect(await code(useLink(co, link.id, { ...proof, manifest: true }, 'tokens', new Date(clock + 1)))).toBe('LINK_REPLAYED');
    expect(await code(useLink(co, link.id, { ...(await prove(k, 'open', link.id)), manifest: true }, 'tokens', new Date(clock + 1)))).toBe('LINK_INVALID');
    const stranger = await linkKey(newLinkSecret());
    expect(await code(useLink(co, link.id, { ...(await prove(stranger, 'tokens', link.id)), manifest: true }, 'tokens', new Date(clock + 1)))).toBe('LINK_INVALID');
    for (const bad of [{ manifest: 'yes' }, { manifest: false }, { manifest: 1 }, { manifest: true, epoch: 1 }]) {
      expect(await code(useLink(co, link.id, { ...(await prove(k, 'tokens', link.id)), ...bad }, 'tokens', new Date(clock + 1))), JSON.stringify(bad)).toBe('WRONG_VALUE');
    }
    expect(await code(useLink(co, link.id, { ...(await prove(k, 'open', link.id)), manifest: true }, 'open', new Date(clock + 1)))).toBe('WRONG_VALUE');
    expect(await downloads()).toBe(before);
  }, 120_000);
});
