/**
 * Relay registry: relays announce and heartbeat; a relay is online while its last heartbeat is recent.
 */
import { asc, sql } from 'drizzle-orm';
import type { RelayAnnouncement } from '@kofn/shared';
import type { Db } from './db/index.js';
import { relays } from './db/schema.js';

export interface RelayView {
  id: string;
  name: string;
  url: string;
  location: string;
  version: string;
  storage: string;
  freeBytes: number;
  usedBytes: number;
  lastHeartbeat: string;
  status: 'online' | 'offline';
}

export async function recordHeartbeat(db: Db, a: RelayAnnouncement, now: Date): Promise<void> {
  const values = {
    name: a.name,
    url: a.url,
    location: a.location,
    version: a.version,
    storage: a.storage,
    freeBytes: a.freeBytes,
    usedBytes: a.usedBytes,
    lastHeartbeat: now
  };
  await db
    .insert(relays)
    .values({ id: a.id, ...values })
    .onConflictDoUpdate({ target: relays.id, set: values });
}

export async function listRelays(db: Db, now: Date, offlineAfterMs: number): Promise<RelayView[]> {
  const rows = await db.select().from(relays).orderBy(asc(relays.name), asc(relays.id));
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    url: r.url,
    location: r.location,
    version: r.version,
    storage: r.storage,
    freeBytes: r.freeBytes,
    usedBytes: r.usedBytes,
    lastHeartbeat: r.lastHeartbeat.toISOString(),
    status: now.getTime() - r.lastHeartbeat.getTime() <= offlineAfterMs ? 'online' : 'offline'
  }));
}

export async function countRelays(db: Db): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(relays);
  return row?.n ?? 0;
}
