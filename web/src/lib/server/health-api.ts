/**
 * File health for signed-in users (issue #16): read the last check (owner or grantee), or check a file
 * now (owner only). Access is file-access.ts's: a file the user may not see is the same 404 as a missing one.
 */
import { KofnError } from '@kofn/shared';
import { visibleFile, type Ctx } from './file-access.js';
import { checkFile, fileHealthFor } from './health.js';

export async function fileHealthForUser(ctx: Ctx, rawId: unknown) {
  const file = await visibleFile(ctx, rawId, { grantee: true, statuses: ['available'] });
  return { fileId: file.id, k: file.k, n: file.n, health: await fileHealthFor(ctx.db, file) };
}

export async function checkFileFor(ctx: Ctx, rawId: unknown) {
  const file = await visibleFile(ctx, rawId, { grantee: false, statuses: ['available'] });
  const health = await checkFile(ctx.db, ctx.key, file.id, ctx.config.relayTimeouts);
  // The file was removed between the two reads.
  if (!health) throw new KofnError('NOT_FOUND', 'File not found on the servers.');
  return { fileId: file.id, k: file.k, n: file.n, health };
}
