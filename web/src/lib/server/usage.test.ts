/**
 * Usage (usage.ts) on PGlite and PostgreSQL with real relay processes: protected bytes count committed
 * files only, the quota holds reservations too, and each person's own usage is theirs alone.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { describeDatabases } from './db/testing.js';
import { removeFile } from './files.js';
import { reserveFile } from './reservations.js';
import { heldBytes, ownProtectedBytes, protectedBytes, usage } from './usage.js';
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
});
