/**
 * The plan of a renewal that replaces one relay of a file by another at a fresh x (shared/docs/renewal.md,
 * "Replacing a relay at a fresh x"; #15/#16). A repair onto a fresh x outside a renewal is not done on
 * purpose: within one epoch, a relay (or a copy of its disk) that kept the old share and a new share at the
 * fresh x would be two points of the same polynomial. Inside a renewal the fresh share exists only at epoch
 * e+1, made from the dealers' contributions, and the leaving relay's share stays at epoch e: the two never
 * combine (renewal.md, "Security").
 */
import { and, eq } from 'drizzle-orm';
import { KofnError, randomBelow } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, relays, shareHealth } from './db/schema.js';
import type { Tx } from './file-access.js';
import type { Holder } from './renewal.js';

/** Replace the share of relay `from` by one on relay `to` at a fresh x (relay ids). */
export interface Replacement {
  from: string;
  to: string;
  /** The fresh x a run before a coordinator restart chose (renewal-resume.ts); drawn when absent or no longer free. */
  x?: number;
}

export interface FreshPlan {
  /** The new set, manifest (x) order: the old holders without the leaving one, and the fresh one. */
  all: Holder[];
  leaving: Holder;
  fresh: Holder;
  /** Inside the switch's transaction, after the placements changed: the share health rows follow. */
  onSwitch: (tx: Tx, now: Date) => Promise<void>;
}

/** A fresh x for a file whose shares are at `used`: uniform over the free points (random.ts). */
export function freshX(used: readonly number[]): number {
  const free = Array.from({ length: 255 }, (_, i) => i + 1).filter((x) => !used.includes(x));
  if (free.length === 0) throw new KofnError('INVALID_SHARE_COUNT', 'No free x is left for this file.');
  return free[randomBelow(free.length)]!;
}

/**
 * The plan, or null when there is nothing to do (the leaving relay holds no share of the file any more: an
 * earlier run switched). Refused: a target already holding a share (it would hold two points), a target not
 * in service, and a file with n = k (the dealers must be k relays that keep an epoch-e share besides the
 * leaving one: a draining relay of such a file moves by copy at the same x, relay-lifecycle.ts).
 */
export async function freshPlan(db: Db, file: typeof files.$inferSelect, old: Holder[], replace: Replacement): Promise<FreshPlan | null> {
  const leaving = old.find((h) => h.relay.id === replace.from);
  if (!leaving) return null;
  if (old.some((h) => h.relay.id === replace.to)) throw new KofnError('CONFLICT', `The target storage server already holds a share of ${file.name}.`);
  const continuing = old.filter((h) => h !== leaving);
  if (continuing.length < file.k) throw new KofnError('NOT_ENOUGH_SHARES', `${file.name} has no ${file.k} shares besides the one to replace (n = k): move it at the same x instead.`);
  const [target] = await db.select().from(relays).where(eq(relays.id, replace.to));
  if (target?.lifecycle !== 'active') throw new KofnError('NOT_FOUND', 'The target storage server is not in service.');
  const fresh: Holder = {
    relay: { id: target.id, name: target.name, url: target.url },
    // Fresh: none of the file's x, the leaving relay's included (the same x is the drain's route).
    x: replace.x !== undefined && replace.x >= 1 && replace.x <= 255 && !old.some((h) => h.x === replace.x) ? replace.x : freshX(old.map((h) => h.x))
  };
  return {
    all: [...continuing, fresh].sort((a, b) => a.x - b.x),
    leaving,
    fresh,
    onSwitch: async (tx, now) => {
      await tx.delete(shareHealth).where(and(eq(shareHealth.fileId, file.id), eq(shareHealth.relayId, leaving.relay.id)));
      const detail = `replaced ${leaving.relay.name} at a fresh x`;
      await tx
        .insert(shareHealth)
        .values({ fileId: file.id, relayId: fresh.relay.id, state: 'ok', detail, scrubDamage: null, checkedAt: now })
        .onConflictDoUpdate({ target: [shareHealth.fileId, shareHealth.relayId], set: { state: 'ok', detail, scrubDamage: null, checkedAt: now } });
    }
  };
}
