/**
 * Capabilities (capabilities.ts: relay tokens for put, get, list, delete) on PGlite and PostgreSQL with
 * real relay processes: who gets which token for which file, and what the tokens say.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { describeDatabases } from './db/testing.js';
import { files } from './db/schema.js';
import { commitFile, removeFile } from './files.js';
import { freshTokens } from './capabilities.js';
import { changeGrants } from './grants.js';
import { protect, retrieve, upload } from './testing/protect.js';
import { errorCode, errorMessage, useFileServices } from './testing/file-services.js';

describeDatabases('capabilities on $name with real relays', ({ open }) => {
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
});
