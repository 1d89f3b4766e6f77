/**
 * Capabilities: the relay tokens the coordinator mints for a file (put/list/delete for the owner of a
 * reservation, get for the owner or a grantee of an available file). Every token names one relay, one
 * file, one operation, the file's chunk range and, for reads, the manifest's epoch; see
 * signing-keys.ts mintCapability and shared/src/token-claims.ts for the claims.
 */
import { maxShareChunkLengthFor, type FreshTokens, type TokenOp } from '@kofn/shared';
import type { Db } from './db/index.js';
import { mintCapability, type SigningKey } from './signing-keys.js';
import { placementsOf, visibleFile, type Ctx, type FileRow } from './file-access.js';
import * as v from './validate.js';
import { readEpoch } from './read-epoch.js';

/** The longest a relay token lives (config.ts caps KOFN_TOKEN_TTL_SECONDS to it); long transfers ask for fresh ones (freshTokens). */
export const TOKEN_TTL_S = 15 * 60;

/** Tokens for `op` on `file` at each of `relayIds`, for the context's user, living `ttl` seconds (default: the configured lifetime). */
export function tokensFor(
  ctx: Ctx,
  file: Pick<FileRow, 'id' | 'size' | 'chunkSize' | 'chunkCount' | 'epoch' | 'k' | 'mode'>,
  op: TokenOp,
  relayIds: string[],
  ttl = ctx.config.tokenTtlS
): Promise<string[]> {
  // Put tokens admit chunks 0..chunkCount, each at most as long as this file's largest share chunk can be
  // (issue #13 item 8b: the bound was a whole chunk whatever the declared size, so a 1 KiB reservation
  // stored a MiB per chunk per relay). One bound serves every index, so before commit a relay may hold
  // at most one chunk's worth more than declared; commitFile then checks every size exactly.
  // A compact file's fragments are about n/k smaller (issue #23): its tokens admit only its own sizes.
  const max = maxShareChunkLengthFor(file.mode, file.size, file.chunkSize, file.k);
  return Promise.all(
    relayIds.map((relayId) =>
      mintCapability(ctx.key, {
        relayId,
        userId: ctx.user.id,
        fid: file.id,
        op,
        chunks: [0, file.chunkCount],
        ...(op === 'put' ? { max } : {}),
        // Reads name the manifest's epoch, so a relay serves exactly that one (#15: never a mix of epochs).
        ...(op === 'get' && file.epoch > 0 ? { ep: file.epoch } : {}),
        // KOFN_TOKEN_TTL_SECONDS (config.ts): tests shorten it to prove transfers renew their tokens (#14).
        ttl
      })
    )
  );
}

/** `get` tokens for `subject` (a user id, or a share link's pseudonym) that live `ttl` seconds. */
export function readTokens(key: SigningKey, file: FileRow, subject: string, relayIds: string[], ttl: number): Promise<string[]> {
  // A renewed file's shares are read at its current epoch: relays serve the epoch a token names (#15).
  return Promise.all(
    relayIds.map((relayId) => mintCapability(key, { relayId, userId: subject, fid: file.id, op: 'get', chunks: [0, file.chunkCount], ttl, ...(file.epoch > 0 ? { ep: file.epoch } : {}) }))
  );
}

/**
 * Fresh `get` tokens for `subject` on every relay of an available file (see files.ts readManifest); `asked`:
 * the epoch a running download reads (read-epoch.ts), undefined for the current one.
 */
export async function readTokensFor(db: Db, key: SigningKey, file: FileRow, subject: string, ttl = TOKEN_TTL_S, asked?: number, now = new Date(), graceMs?: number) {
  const read = readEpoch(file, asked, ttl, now, graceMs);
  const where = await placementsOf(db, file.id);
  const tokens = await readTokens(
    key,
    { ...file, epoch: read.epoch },
    subject,
    where.map((p) => p.relayId),
    read.ttl
  );
  return { tokens: where.map((p, i) => ({ relayId: p.relayId, token: tokens[i]! })) } satisfies FreshTokens;
}

/**
 * Fresh tokens: `get` for a download (owner or grantee of an available file); `put`, `list` and `delete`
 * for the owner of an upload still reserved (long uploads, and resuming one: partial chunks are listed
 * and deleted before they are sent again). A running download names the epoch it reads (`epoch`): its
 * tokens keep naming that epoch while the relays keep it, even after a renewal switched the file
 * (read-epoch.ts; #15: a retrieval finishes on the epoch it started with), and EPOCH_GONE (409) after.
 */
export async function freshTokens(ctx: Ctx, rawId: unknown, op: unknown, rawEpoch?: unknown, now = new Date()) {
  if (op !== 'put' && op !== 'get' && op !== 'list' && op !== 'delete') throw v.wrongValue('op', 'put, get, list, delete');
  if (rawEpoch !== undefined && op !== 'get') throw v.wrongValue('epoch', 'absent except with op get');
  const asked = rawEpoch === undefined ? undefined : v.integer(rawEpoch, 'epoch', 0, 2 ** 31 - 1);
  const file = await visibleFile(ctx, rawId, { grantee: op === 'get', statuses: op === 'get' ? ['available'] : ['reserved'] });
  const where = await placementsOf(ctx.db, file.id);
  const read = op === 'get' ? readEpoch(file, asked, ctx.config.tokenTtlS, now, ctx.config.renewalGraceMs) : { epoch: file.epoch, ttl: ctx.config.tokenTtlS };
  const tokens = await tokensFor(
    ctx,
    { ...file, epoch: read.epoch },
    op,
    where.map((p) => p.relayId),
    read.ttl
  );
  return { tokens: where.map((p, i) => ({ relayId: p.relayId, token: tokens[i]! })) } satisfies FreshTokens;
}
