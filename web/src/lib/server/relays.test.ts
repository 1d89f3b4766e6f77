import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayAnnouncement } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { countRelays, listRelays, recordHeartbeat } from './relays.js';

const announcement = (n: number, over: Partial<RelayAnnouncement> = {}): RelayAnnouncement => ({
  id: `00000000-0000-4000-8000-00000000000${n}`,
  name: `relay-${n}`,
  location: 'Lab',
  url: `http://127.0.0.1:90${n}0`,
  version: '0.1.0',
  storage: 'Disk',
  freeBytes: 1_000_000,
  usedBytes: 0,
  ...over
});

describeDatabases('relay registry on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  beforeAll(async () => {
    database = await open();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('registers a relay on its first heartbeat and shows it online', async () => {
    const now = new Date('2026-01-01T00:00:00Z');
    await recordHeartbeat(database.db, announcement(1), now);
    const [r] = await listRelays(database.db, now, 30_000);
    expect(r).toMatchObject({ name: 'relay-1', status: 'online', lastHeartbeat: now.toISOString() });
  });

  it('updates, never duplicates, a relay that heartbeats again', async () => {
    const later = new Date('2026-01-01T00:00:10Z');
    await recordHeartbeat(database.db, announcement(1, { usedBytes: 42, url: 'http://127.0.0.1:9999' }), later);
    expect(await countRelays(database.db)).toBe(1);
    const [r] = await listRelays(database.db, later, 30_000);
    expect(r).toMatchObject({ usedBytes: 42, url: 'http://127.0.0.1:9999' });
  });

  it('marks a relay offline once heartbeats stop', async () => {
    const muchLater = new Date('2026-01-01T00:01:00Z');
    const [r] = await listRelays(database.db, muchLater, 30_000);
    expect(r?.status).toBe('offline');
  });

  it('stores names with SQL metacharacters verbatim', async () => {
    const name = `x'); drop table relays; --`;
    await recordHeartbeat(database.db, announcement(2, { name }), new Date());
    const rows = await listRelays(database.db, new Date(), 30_000);
    expect(rows.map((r) => r.name)).toContain(name);
    expect(await countRelays(database.db)).toBe(2);
  });

  it('keeps byte counts above 2^32 exactly', async () => {
    const big = 5 * 2 ** 40;
    await recordHeartbeat(database.db, announcement(3, { freeBytes: big }), new Date());
    const rows = await listRelays(database.db, new Date(), 30_000);
    expect(rows.find((r) => r.name === 'relay-3')?.freeBytes).toBe(big);
  });
});
