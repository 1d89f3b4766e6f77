/**
 * Capabilities (capabilities.ts: relay tokens for put, get, list, delete) on PGlite and PostgreSQL with
 * real relay processes: who gets which token for which file, and what the tokens say.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { decodeJwt, type JWTPayload } from 'jose';
import { maxShareChunkLengthFor } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import { files, grants, jobs } from './db/schema.js';
import { commitFile, manifest, removeFile } from './files.js';
import { TOKEN_TTL_S, freshTokens, readTokensFor, tokensFor } from './capabilities.js';
import { placementsOf, type FileRow } from './file-access.js';
import { tokenSubject } from './signing-keys.js';
import { changeGrants } from './grants.js';
import { protect, retrieve, retrieveWith, upload } from './testing/protect.js';
import { DROP_JOB, renewOnce } from './renewal.js';
import { errorCode, errorMessage, useFileServices } from './testing/file-services.js';

describeDatabases('capabilities on $name with real relays', { once: true }, ({ open }) => {
  const fx = useFileServices(open);

  it('a read-only grantee cannot remove, commit, or get put, delete or list tokens (404 as for a stranger)', async () => {
    const data = randomBytes(3000);
    const fileId = await protect(fx.alice, 'read-only.bin', data, 2);
    await changeGrants(fx.alice, { action: 'add_read', emails: ['bob@x.test'], fileIds: [fileId] });
    // Bob may read: the grant is real.
    expect((await freshTokens(fx.bob, fileId, 'get')).tokens).toHaveLength(3);
    expect(Buffer.from(await retrieve(fx.bob, fileId)).equals(data)).toBe(true);
    const writes = [
      () => removeFile(fx.bob, fileId),
      () => commitFile(fx.bob, fileId, {}),
      () => freshTokens(fx.bob, fileId, 'put'),
      () => freshTokens(fx.bob, fileId, 'delete'),
      () => freshTokens(fx.bob, fileId, 'list')
    ];
    for (const attempt of writes) expect(await errorMessage(attempt())).toBe('File not found on the servers.');
    const [row] = await fx.database.db.select().from(files).where(eq(files.id, fileId));
    expect(row?.status).toBe('available');
    expect(Buffer.from(await retrieve(fx.alice, fileId)).equals(data)).toBe(true);
  });

  it('mints one token per relay naming that relay, the file, the op and the chunk range; put tokens bound the size', async () => {
    const up = await upload(fx.alice, 'claims.bin', randomBytes(2000), 2);
    const now = Math.floor(Date.now() / 1000);
    for (const op of ['put', 'list', 'delete'] as const) {
      const { tokens } = await freshTokens(fx.alice, up.fileId, op);
      expect(tokens.map((t) => t.relayId).sort()).toEqual(up.placements.map((p) => p.relayId).sort());
      for (const t of tokens) {
        const c = decodeJwt(t.token);
        expect(c).toMatchObject({ aud: t.relayId, fid: up.fileId, op, chunks: [0, 1] });
        // put tokens carry the file's share-chunk bound; the others carry none.
        expect(typeof c.max === 'number').toBe(op === 'put');
        expect(c.exp! - now).toBeGreaterThan(14 * 60);
        expect(c.exp! - now).toBeLessThanOrEqual(15 * 60 + 5);
      }
    }
    // A reservation has no read tokens yet; an unknown op is refused by name.
    expect(await errorCode(freshTokens(fx.alice, up.fileId, 'get'))).toBe('NOT_FOUND');
    expect(await errorCode(freshTokens(fx.alice, up.fileId, 'delete_file'))).toBe('WRONG_VALUE');
  });

  it('a download that began before a renewal gets fresh tokens for its own epoch until the drop, then EPOCH_GONE (#15)', async () => {
    const data = randomBytes(200_003);
    const fileId = await protect(fx.alice, 'renewed-midway.bin', data, 2);
    const early = await manifest(fx.alice, fileId);
    expect(early.epoch).toBe(0);
    const deps = { db: fx.database.db, key: fx.alice.key, timeouts: { headersMs: 60_000, putHeadersMs: 60_000, idleMs: 60_000, totalMs: 120_000 } };
    expect(await renewOnce(deps, fileId, 0)).toBe('renewed');
    const [row] = await fx.database.db.select().from(files).where(eq(files.id, fileId));
    expect(row?.epoch).toBe(1);
    const switchedAt = row!.lastRenewalAt!.getTime();

    // The download renews its tokens naming epoch 0: they read epoch 0 (no `ep` claim) and rebuild the file.
    const fresh = await freshTokens(fx.alice, fileId, 'get', 0);
    for (const t of fresh.tokens) expect(decodeJwt(t.token).ep).toBeUndefined();
    const renewedTokens = { ...early, placements: early.placements.map((p) => ({ ...p, token: fresh.tokens.find((t) => t.relayId === p.relayId)!.token })) };
    expect(Buffer.from(await retrieveWith(renewedTokens)).equals(data)).toBe(true);
    // A grantee's download likewise.
    await changeGrants(fx.alice, { action: 'add_read', emails: ['bob@x.test'], fileIds: [fileId] });
    for (const t of (await freshTokens(fx.bob, fileId, 'get', 0)).tokens) expect(decodeJwt(t.token).ep).toBeUndefined();
    // A new retrieval (no epoch) and one at epoch 1 read epoch 1.
    for (const asked of [undefined, 1]) for (const t of (await freshTokens(fx.alice, fileId, 'get', asked)).tokens) expect(decodeJwt(t.token).ep).toBe(1);

    // Ten minutes after the switch, epoch-0 tokens are shortened to end a minute before the drop job may run.
    const late = await freshTokens(fx.alice, fileId, 'get', 0, new Date(switchedAt + 10 * 60_000));
    const [drop] = await fx.database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, DROP_JOB), eq(jobs.key, `${fileId}:0`)));
    for (const t of late.tokens) {
      const c = decodeJwt(t.token);
      expect(c.ep).toBeUndefined();
      expect(c.exp! - c.iat!).toBeLessThanOrEqual(5 * 60);
      // What matters: the token's life from (simulated) minting stays a minute inside the grace.
      expect(switchedAt + 10 * 60_000 + (c.exp! - c.iat!) * 1000 + 60_000).toBeLessThanOrEqual(drop!.runAfter.getTime());
    }
    // Past that, EPOCH_GONE (409), for any epoch that is not kept; nothing else about the file changed.
    expect(await errorCode(freshTokens(fx.alice, fileId, 'get', 0, new Date(switchedAt + 15 * 60_000)))).toBe('EPOCH_GONE');
    expect(await errorCode(freshTokens(fx.alice, fileId, 'get', 2))).toBe('EPOCH_GONE');
    // Bad input: a clear error, never a 500.
    for (const bad of ['0', -1, 1.5, 2 ** 31, null]) expect(await errorCode(freshTokens(fx.alice, fileId, 'get', bad))).toBe('WRONG_VALUE');
    expect(await errorCode(freshTokens(fx.alice, fileId, 'put', 0))).toBe('WRONG_VALUE');
    expect(Buffer.from(await retrieve(fx.alice, fileId)).equals(data)).toBe(true);
  }, 120_000);

  /** The file's row, read as the services read it. */
  async function rowOf(fileId: string): Promise<FileRow> {
    const [row] = await fx.database.db.select().from(files).where(eq(files.id, fileId));
    if (!row) throw new Error(`no file ${fileId}`);
    return row;
  }
  /** How long a token lives, from its own claims. */
  const lifetime = (c: JWTPayload): number => c.exp! - c.iat!;

  it('read tokens (share links, manifests) name the subject, every relay in x order, the chunk range and the ttl asked', async () => {
    const fileId = await protect(fx.alice, 'link.bin', randomBytes(2500), 2);
    const row = await rowOf(fileId);
    const where = await placementsOf(fx.database.db, fileId);
    const { tokens } = await readTokensFor(fx.database.db, fx.alice.key, row, 'link:abc', 120);
    expect(tokens.map((t) => t.relayId)).toEqual(where.map((p) => p.relayId));
    for (const t of tokens) {
      const c = decodeJwt(t.token);
      // The subject is the link's pseudonym, never the owner: relays log who read (signing-keys.ts tokenSubject).
      expect(c).toMatchObject({ aud: t.relayId, sub: tokenSubject(fx.alice.key, 'link:abc', fileId), fid: fileId, op: 'get', chunks: [0, row.chunkCount] });
      expect(lifetime(c)).toBe(120);
      // A file never renewed is at epoch 0: its read tokens name no epoch, and reads bound no size.
      expect(c).not.toHaveProperty('ep');
      expect(c).not.toHaveProperty('max');
    }
    // Without a ttl, the longest a relay token lives.
    for (const t of (await readTokensFor(fx.database.db, fx.alice.key, row, 'link:abc')).tokens) expect(lifetime(decodeJwt(t.token))).toBe(TOKEN_TTL_S);
    // A renewed file (#15) is read at its current epoch only.
    for (const t of (await readTokensFor(fx.database.db, fx.alice.key, { ...row, epoch: 2 }, 'link:abc', 60)).tokens) expect(decodeJwt(t.token).ep).toBe(2);
  });

  it('get tokens name the epoch of a renewed file only; write tokens never name one; put tokens bound each chunk to the largest share chunk', async () => {
    const data = randomBytes(5000);
    const fileId = await protect(fx.alice, 'epochs.bin', data, 2);
    const row = await rowOf(fileId);
    const fresh = await freshTokens(fx.alice, fileId, 'get');
    const relayIds = fresh.tokens.map((t) => t.relayId);
    for (const t of fresh.tokens) {
      const c = decodeJwt(t.token);
      expect(c).toMatchObject({ aud: t.relayId, sub: tokenSubject(fx.alice.key, fx.alice.user.id, fileId), op: 'get', chunks: [0, row.chunkCount] });
      expect(c).not.toHaveProperty('ep');
      expect(c).not.toHaveProperty('max');
    }
    const renewed = { ...row, epoch: 3 };
    for (const op of ['get', 'put', 'list', 'delete'] as const) {
      const minted = await tokensFor(fx.alice, renewed, op, relayIds);
      expect(minted).toHaveLength(relayIds.length);
      minted.forEach((token, i) => {
        const c = decodeJwt(token);
        expect(c).toMatchObject({ aud: relayIds[i], op, fid: fileId });
        expect(c.ep).toBe(op === 'get' ? 3 : undefined);
        expect(c.max).toBe(op === 'put' ? maxShareChunkLengthFor(row.mode, row.size, row.chunkSize, row.k) : undefined);
      });
    }
    // The context's configured lifetime (KOFN_TOKEN_TTL_SECONDS), not the longest one.
    const short = { ...fx.alice, config: { ...fx.alice.config, tokenTtlS: 90 } };
    for (const token of await tokensFor(short, row, 'get', relayIds)) expect(lifetime(decodeJwt(token))).toBe(90);
  });

  it('a grant never opens writes, even on a file still reserved', async () => {
    // changeGrants only shares available files; a grant row on a reservation (written here directly) must
    // still give the grantee nothing: only `get` looks at grants at all.
    const up = await upload(fx.alice, 'reserved-granted.bin', randomBytes(1000), 2);
    await fx.database.db.insert(grants).values({ fileId: up.fileId, userId: fx.bob.user.id });
    for (const op of ['put', 'list', 'delete', 'get'] as const) expect(await errorCode(freshTokens(fx.bob, up.fileId, op)), op).toBe('NOT_FOUND');
    expect((await freshTokens(fx.alice, up.fileId, 'put')).tokens).toHaveLength(3);
  });

  it('an unknown op is refused with the ops there are', async () => {
    const fileId = await protect(fx.alice, 'ops.bin', randomBytes(100), 2);
    for (const op of ['delete_file', '', undefined, 7]) {
      expect(await errorMessage(freshTokens(fx.alice, fileId, op))).toBe('Wrong value supplied for field "op". Valid values are put, get, list, delete.');
    }
  });
});
