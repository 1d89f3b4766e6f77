/**
 * Usage (usage.ts) on PGlite and PostgreSQL with real relay processes: protected bytes count committed
 * files only, the quota holds reservations too, and each person's own usage is theirs alone.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { relays } from './db/schema.js';
import { describeDatabases } from './db/testing.js';
import { removeFile } from './files.js';
import { reserveFile } from './reservations.js';
import { heldBytes, ownProtectedBytes, protectedBytes, usage, usageBreakdown } from './usage.js';
import { protect } from './testing/protect.js';
import { useFileServices } from './testing/file-services.js';

describeDatabases('usage on $name with real relays', ({ open }) => {
  const fx = useFileServices(open);

  it('counts committed plaintext as protected, reservations only as held, and per owner', async () => {
    const db = fx.database.db;
    expect(await protectedBytes(db)).toBe(0);
    const a = await protect(fx.alice, 'a.bin', randomBytes(1234), 2);
    await protect(fx.bob, 'b.bin', randomBytes(100), 2);
    await reserveFile(fx.alice, { name: 'pending.bin', size: 5000, type: '', k: 2 });
    expect(await protectedBytes(db)).toBe(1334);
    expect(await heldBytes(db)).toBe(6334);
    expect(await ownProtectedBytes(db, fx.alice.user.id)).toBe(1234);
    expect(await ownProtectedBytes(db, fx.bob.user.id)).toBe(100);
    const u = await usage(db, fx.license);
    expect(u).toEqual({ protectedBytes: 1334, limitBytes: fx.license.limits.protectedBytes, percent: (100 * 1334) / fx.license.limits.protectedBytes });
    // A removed file no longer counts (it is deleting, then deleted).
    await removeFile(fx.alice, a);
    expect(await protectedBytes(db)).toBe(100);
    expect(await ownProtectedBytes(db, fx.alice.user.id)).toBe(0);
  });

  it('breaks usage down per relay (placed files beside what each relay reports) and per person', async () => {
    const db = fx.database.db;
    const [r1, r2, r3] = fx.relays.map((r) => r.id);
    const before = await usageBreakdown(db, new Date(), 3_600_000);
    const base = new Map(before.relays.map((r) => [r.id, r]));
    const baseUser = new Map(before.users.map((u) => [u.id, u]));
    // alice: 3000 B on relays 1 and 2; bob: 700 B on relays 2 and 3; a reservation counts nowhere.
    await protect(fx.alice, 'split-a.bin', randomBytes(3000), 2, [r1!, r2!]);
    await protect(fx.bob, 'split-b.bin', randomBytes(700), 2, [r2!, r3!]);
    await reserveFile(fx.bob, { name: 'pending-b.bin', size: 9000, type: '', k: 2 });
    // Relay 3 last reported an S3 store: no free-space figure.
    await db.update(relays).set({ freeBytes: null, usedBytes: 123, storage: 'S3' }).where(eq(relays.id, r3!));

    const after = await usageBreakdown(db, new Date(), 3_600_000);
    const grew = (id: string) => {
      const r = after.relays.find((x) => x.id === id)!;
      return { files: r.files - base.get(id)!.files, dataBytes: r.dataBytes - base.get(id)!.dataBytes };
    };
    expect(grew(r1!)).toEqual({ files: 1, dataBytes: 3000 });
    expect(grew(r2!)).toEqual({ files: 2, dataBytes: 3700 });
    expect(grew(r3!)).toEqual({ files: 1, dataBytes: 700 });
    expect(after.relays.find((x) => x.id === r3)).toMatchObject({ name: 'test-relay-3', status: 'online', lifecycle: 'active', storage: 'S3', freeBytes: null, usedBytes: 123 });
    expect(after.relays.find((x) => x.id === r1)?.freeBytes).toBe(1e12);
    expect(after.relays.map((r) => r.name)).toEqual(['test-relay-1', 'test-relay-2', 'test-relay-3']);

    const alice = after.users.find((u) => u.id === fx.alice.user.id)!;
    const bob = after.users.find((u) => u.id === fx.bob.user.id)!;
    expect(alice.protectedBytes - baseUser.get(alice.id)!.protectedBytes).toBe(3000);
    expect(alice.files - baseUser.get(alice.id)!.files).toBe(1);
    expect(bob.protectedBytes - baseUser.get(bob.id)!.protectedBytes).toBe(700);
    expect(bob).toMatchObject({ email: 'bob@x.test', displayName: 'bob@x.test' });
    // Most bytes first; the per-person figures add up to the deployment's protected bytes.
    expect(after.users.map((u) => u.protectedBytes)).toEqual([...after.users.map((u) => u.protectedBytes)].sort((a, b) => b - a));
    expect(after.users.reduce((n, u) => n + u.protectedBytes, 0)).toBe(await protectedBytes(db));

    // Silent past the limit: offline. Retired: holds nothing, left out.
    expect((await usageBreakdown(db, new Date(Date.now() + 7_200_000), 3_600_000)).relays.every((r) => r.status === 'offline')).toBe(true);
    await db.update(relays).set({ lifecycle: 'retired' }).where(eq(relays.id, r3!));
    expect((await usageBreakdown(db, new Date(), 3_600_000)).relays.map((r) => r.id)).toEqual([r1, r2]);
    await db.update(relays).set({ lifecycle: 'active', storage: 'Disk', freeBytes: 1e12 }).where(eq(relays.id, r3!));
  });
});
