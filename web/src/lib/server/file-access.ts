/**
 * Who may reach which file, and where its shares are: the request context every file service takes, the
 * one visibility rule (owner, or grantee where reading is allowed; everyone else gets the same 404 as for
 * a missing file) and a file's placements with their relays. Shared by files.ts, reservations.ts and
 * capabilities.ts, so none of them depends on another for these.
 */
import { and, eq, inArray, isNull } from 'drizzle-orm';
import { KofnError } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, grants, placements, relays } from './db/schema.js';
import type { User } from './auth.js';
import type { License } from './license.js';
import type { CoordinatorConfig } from './config.js';
import type { SigningKey } from './signing-keys.js';
import * as v from './validate.js';

export interface Ctx {
  db: Db;
  user: User;
  license: License;
  key: SigningKey;
  config: CoordinatorConfig;
}

export type FileRow = typeof files.$inferSelect;
/** A transaction of either database driver, as `db.transaction` hands it to its callback. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type RelayRow = typeof relays.$inferSelect;
export type PlacementWithRelay = typeof placements.$inferSelect & { relay: RelayRow };

export function isOnline(lastHeartbeat: Date, config: CoordinatorConfig, now: Date): boolean {
  return now.getTime() - lastHeartbeat.getTime() <= config.relayOfflineAfterMs;
}

/**
 * RELAYS_OFFLINE for a reservation whose chosen servers are not all online (issue #17 defect 8): names the
 * servers down, and says how many are needed and how many are reachable, in plain words for one or many.
 */
export function relaysDownError(down: ReadonlyArray<{ name: string }>, chosen: number): KofnError {
  const reachable = chosen - down.length;
  const needed = chosen === 1 ? 'The 1 chosen server is needed' : `All ${chosen} chosen servers are needed`;
  const answer = reachable === 0 ? 'none is reachable' : reachable === 1 ? '1 is reachable' : `${reachable} are reachable`;
  return new KofnError('RELAYS_OFFLINE', `Some storage servers necessary for the operation are not connected: ${down.map((r) => r.name).join(', ')}. ${needed} and ${answer}.`);
}

/** A file's placements with their relays, in x order. */
export async function placementsOf(db: Db, fileId: string): Promise<PlacementWithRelay[]> {
  const rows = await db.select({ p: placements, relay: relays }).from(placements).innerJoin(relays, eq(relays.id, placements.relayId)).where(eq(placements.fileId, fileId));
  return rows.map((r) => ({ ...r.p, relay: r.relay })).sort((a, b) => a.x - b.x);
}

/** The file if this user may see it (owner, or grantee when allowed); otherwise the same 404 as a missing file. */
export async function visibleFile(ctx: Ctx, rawId: unknown, opts: { grantee: boolean; statuses: Array<FileRow['status']> }): Promise<FileRow> {
  const fileId = v.fileId(rawId);
  const [row] = await ctx.db
    .select()
    .from(files)
    // A file in the trash (trash.ts) is out of reach of every file route until it is restored.
    .where(and(eq(files.id, fileId), inArray(files.status, opts.statuses), isNull(files.trashedAt)));
  if (row?.ownerId === ctx.user.id) return row;
  if (row && opts.grantee) {
    const [g] = await ctx.db
      .select()
      .from(grants)
      .where(and(eq(grants.fileId, fileId), eq(grants.userId, ctx.user.id)));
    if (g) return row;
  }
  throw new KofnError('NOT_FOUND', 'File not found on the servers.');
}

/**
 * Locks a file's row in the caller's transaction if the file is still available at `epoch`. Renewal's
 * switch (renewal.md step 5), a relay move and a repair all take this lock first, so they serialise and each
 * acts only on the epoch it worked at; false means the file changed meanwhile (renewed, moved or removed).
 */
export async function lockFileAtEpoch(tx: Tx, fileId: string, epoch: number): Promise<boolean> {
  const [locked] = await tx
    .select({ id: files.id })
    .from(files)
    .where(and(eq(files.id, fileId), eq(files.epoch, epoch), eq(files.status, 'available')))
    .for('update');
  return locked !== undefined;
}
