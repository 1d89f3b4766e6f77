/**
 * Job handlers and periodic maintenance run by the coordinator's scheduler: deleting a file's shares on
 * every relay (retried until all confirm), removing stale reservations (reservations.ts sweepReservations), purging
 * the trash's expired items (trash.ts purgeTrash), purging expired sessions.
 */
import { and, eq, ne } from 'drizzle-orm';
import { KofnError } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, placements, relays, users } from './db/schema.js';
import type { JobHandler } from './jobs.js';
import { deleteFileOn } from './relay-client.js';
import type { SigningKey } from './signing-keys.js';
import { purgeExpiredSessions } from './auth.js';
import { purgeExpiredApiTokens } from './api-tokens.js';
import { purgeLoginThrottle } from './login-throttle.js';
import { purgeExpiredLinks } from './share-links.js';
import { purgeExpiredChallenges as purgePasskeyChallenges } from './passkeys.js';
import { purgeExpiredChallenges as purgeSecondFactorChallenges } from './second-factor.js';
import { sweepReservations } from './reservations.js';
import { purgeTrash } from './trash.js';
import { recordRemoteRemovals } from './federation-removals.js';

export function jobHandlers(db: Db, key: SigningKey): Record<string, JobHandler> {
  return {
    'delete-file': async (payload) => {
      const fileId = String(payload.fileId);
      const where = await db.select({ relay: relays }).from(placements).innerJoin(relays, eq(relays.id, placements.relayId)).where(eq(placements.fileId, fileId));
      // A renewed file (#15) also lives at its epoch's id on every relay: the token names it.
      const [file] = await db.select({ epoch: files.epoch, ownerId: files.ownerId, layout: files.layout }).from(files).where(eq(files.id, fileId));
      // Issue #21 part 2: sub-files at other deployments are the owner's browser's to remove (federation-removals.ts).
      if (file) await recordRemoteRemovals(db, { id: fileId, ownerId: file.ownerId, layout: file.layout });
      const failures: string[] = [];
      // Every relay is asked each time; deleting twice is harmless (DELETE is idempotent on relays).
      await Promise.all(
        where.map(async ({ relay }) => {
          try {
            await deleteFileOn(key, { id: relay.id, url: relay.url, name: relay.name }, fileId, undefined, file?.epoch ?? 0);
          } catch {
            failures.push(relay.name);
          }
        })
      );
      if (failures.length) throw new KofnError('RELAYS_OFFLINE', `not yet deleted on: ${failures.join(', ')}`);
      await db.update(files).set({ status: 'deleted', deletedAt: new Date() }).where(eq(files.id, fileId));
    },
    // A deleted account (accounts.ts deleteUser): its row goes once every file it owned is off the relays.
    'delete-user': async (payload) => {
      const userId = String(payload.userId);
      const [left] = await db
        .select({ id: files.id })
        .from(files)
        .where(and(eq(files.ownerId, userId), ne(files.status, 'deleted')))
        .limit(1);
      if (left) throw new KofnError('UNAVAILABLE', 'files of the account are still being deleted');
      await db.transaction(async (tx) => {
        await tx.delete(files).where(eq(files.ownerId, userId));
        await tx.delete(users).where(and(eq(users.id, userId), eq(users.disabled, true)));
      });
    },
    // A relay replaced during an upload (reservations.ts replaceRelay): what it got of the file goes.
    'delete-file-on-relay': async (payload) => {
      const fileId = String(payload.fileId);
      const [relay] = await db
        .select()
        .from(relays)
        .where(eq(relays.id, String(payload.relayId)));
      if (!relay) return;
      await deleteFileOn(key, { id: relay.id, url: relay.url, name: relay.name }, fileId);
    }
  };
}

export async function runMaintenance(db: Db, reservationTtlMs: number, now = new Date(), trashMs = 30 * 86_400_000): Promise<void> {
  await sweepReservations(db, reservationTtlMs, now);
  // Issue #18: the trash's automatic purge, through the same durable delete-file jobs as any deletion.
  await purgeTrash(db, trashMs, now);
  await purgeExpiredSessions(db, now);
  await purgeExpiredApiTokens(db, now);
  await purgeLoginThrottle(db, now);
  await purgeExpiredLinks(db, now);
  await purgePasskeyChallenges(db, now);
  await purgeSecondFactorChallenges(db, now);
}
