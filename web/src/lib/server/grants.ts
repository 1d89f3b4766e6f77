/**
 * Read access for other users (Qasmat's add_read / revoke_read), for one or many files by e-mail.
 * Grantees get read tokens through the manifest; after revocation no new token is minted, so access
 * ends when the last token (15 minutes at most) expires.
 */
import { and, eq, inArray } from 'drizzle-orm';
import { KofnError } from '@kofn/shared';
import { files, grants, users } from './db/schema.js';
import { record } from './history.js';
import type { Ctx } from './files.js';
import * as v from './validate.js';

export async function changeGrants(ctx: Ctx, input: Record<string, unknown>) {
  const action = input.action;
  if (action !== 'add_read' && action !== 'revoke_read') throw v.wrongValue('action', 'add_read, revoke_read');
  const emails = (Array.isArray(input.emails) ? input.emails : [input.email]).map((e) => v.email(e));
  const ids = (Array.isArray(input.fileIds) ? input.fileIds : [input.fileId]).map((id) => v.fileId(id));
  if (emails.length === 0 || emails.length > 100 || ids.length === 0 || ids.length > 1000) throw v.wrongValue('emails/fileIds', '1..100 e-mails and 1..1000 files');
  const owned = await ctx.db
    .select()
    .from(files)
    .where(and(inArray(files.id, ids), eq(files.ownerId, ctx.user.id), eq(files.status, 'available')));
  if (owned.length !== new Set(ids).size) throw new KofnError('NOT_FOUND', 'File not found on the servers.');
  const people = await ctx.db.select().from(users).where(inArray(users.email, emails));
  const missing = emails.filter((e) => !people.some((p) => p.email === e));
  if (missing.length) throw new KofnError('NOT_FOUND', `No user with the e-mail ${missing.join(', ')}.`);
  for (const f of owned) {
    for (const p of people) {
      if (p.id === ctx.user.id) continue;
      if (action === 'add_read') await ctx.db.insert(grants).values({ fileId: f.id, userId: p.id }).onConflictDoNothing();
      else await ctx.db.delete(grants).where(and(eq(grants.fileId, f.id), eq(grants.userId, p.id)));
      await record(ctx.db, {
        userId: ctx.user.id,
        operation: action === 'add_read' ? 'share' : 'revoke',
        fileId: f.id,
        fileName: f.name,
        result: 'ok',
        detail: p.email
      });
    }
  }
  return { action, files: owned.map((f) => f.id), emails };
}

export async function sharedByMe(ctx: Ctx) {
  const rows = await ctx.db
    .select({ fileId: files.id, name: files.name, size: files.size, email: users.email, displayName: users.displayName, since: grants.createdAt })
    .from(grants)
    .innerJoin(files, eq(files.id, grants.fileId))
    .innerJoin(users, eq(users.id, grants.userId))
    .where(and(eq(files.ownerId, ctx.user.id), eq(files.status, 'available')));
  const byFile = new Map<string, { fileId: string; name: string; size: number; grantees: Array<{ email: string; displayName: string; since: string }> }>();
  for (const r of rows) {
    const e = byFile.get(r.fileId) ?? { fileId: r.fileId, name: r.name, size: r.size, grantees: [] };
    e.grantees.push({ email: r.email, displayName: r.displayName, since: r.since.toISOString() });
    byFile.set(r.fileId, e);
  }
  return [...byFile.values()].sort((a, b) => a.name.localeCompare(b.name));
}
