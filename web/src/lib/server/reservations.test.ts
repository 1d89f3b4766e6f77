/**
 * Reservations (reservations.ts: checks, placement, quota taken atomically, the sweep) on PGlite and
 * PostgreSQL with real relay processes.
 */
import { expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { describeDatabases } from './db/testing.js';
import { files, jobs, relays as relaysTable } from './db/schema.js';
import { listFiles } from './files.js';
import { reserveFile } from './reservations.js';
import { heldBytes, usage } from './usage.js';
import type { Ctx } from './file-access.js';
import { runMaintenance } from './maintenance.js';
import { protect } from './testing/protect.js';
import { errorCode, errorMessage, useFileServices } from './testing/file-services.js';

describeDatabases('reservations on $name with real relays', ({ open }) => {
  const fx = useFileServices(open);

  it('validates reservations with Qasmat messages', async () => {
    const base = { name: 'ok.bin', size: 10, type: 'text/plain', k: 2 };
    expect(await errorMessage(reserveFile(fx.alice, { ...base, k: 1 }))).toBe('The threshold must be at least 2.');
    expect(await errorMessage(reserveFile(fx.alice, { ...base, k: 4 }))).toBe('The threshold is greater than the number of servers.');
    expect(await errorMessage(reserveFile(fx.alice, { ...base, size: -1 }))).toBe('File too big, empty or wrong field.');
    expect(await errorMessage(reserveFile(fx.alice, { ...base, size: 'ten' }))).toBe('File too big, empty or wrong field.');
    expect(await errorCode(reserveFile(fx.alice, { ...base, size: fx.license.limits.maxFileSize + 1 }))).toBe('FILE_TOO_BIG');
    for (const name of ['a/b', 'a\\b', '..', '.', 'tab\there', 'nul\u0000', 'bidi\u202e', ' lead', 'trail ']) {
      expect(await errorMessage(reserveFile(fx.alice, { ...base, name })), JSON.stringify(name)).toMatch(/^The file name is not allowed: it contains a control character/);
    }
    expect(await errorMessage(reserveFile(fx.alice, { ...base, name: '' }))).toBe('The file name is not allowed: it is empty.');
    // Issue #17 defect 3: a long name is refused for its length, not for "an invalid character".
    expect(await errorMessage(reserveFile(fx.alice, { ...base, name: 'x'.repeat(256) }))).toBe('The file name is not allowed: it is 256 characters long; at most 255 are allowed.');
    expect(await errorMessage(reserveFile(fx.alice, { ...base, k: 'two' }))).toBe('Wrong value supplied for field "k". Valid values are integers 2..255.');
    expect(await errorCode(reserveFile(fx.alice, { ...base, relays: ['not-a-relay'] }))).toBe('WRONG_VALUE');
  });

  it('keeps names unique per user, stores SQL metacharacters verbatim, and lets two users use one name', async () => {
    const name = `x'); drop table files; -- "%_*`;
    await protect(fx.alice, name, new Uint8Array([1]), 2);
    expect(await errorMessage(reserveFile(fx.alice, { name, size: 1, type: '', k: 2 }))).toBe('Filename is already in use.');
    await protect(fx.bob, name, new Uint8Array([2]), 2);
    expect((await listFiles(fx.alice)).some((f) => f.name === name)).toBe(true);
  });

  it('refuses a chosen relay that is offline', async () => {
    await fx.database.db
      .update(relaysTable)
      .set({ lastHeartbeat: new Date(0) })
      .where(eq(relaysTable.id, fx.relays[2]!.id));
    try {
      // Issue #17 defect 8: which server, how many are needed, how many are reachable.
      expect(await errorMessage(reserveFile(fx.alice, { name: 'off.bin', size: 1, type: '', k: 2, relays: fx.relays.map((r) => r.id) }))).toBe(
        `Some storage servers necessary for the operation are not connected: ${fx.relays[2]!.name}. All 3 chosen servers are needed and 2 are reachable.`
      );
      // The default choice takes only online relays.
      const r = await reserveFile(fx.alice, { name: 'online-only.bin', size: 1, type: '', k: 2 });
      expect(r.n).toBe(2);
    } finally {
      await fx.database.db.update(relaysTable).set({ lastHeartbeat: new Date() }).where(eq(relaysTable.id, fx.relays[2]!.id));
    }
  });

  it('cleans up reservations that were never committed', async () => {
    const r = await reserveFile(fx.alice, { name: 'abandoned.bin', size: 10, type: '', k: 2 });
    await runMaintenance(fx.database.db, 0, new Date(Date.now() + 1000));
    const [row] = await fx.database.db.select().from(files).where(eq(files.id, r.fileId));
    expect(row?.status).toBe('deleting');
    const [job] = await fx.database.db.select().from(jobs).where(eq(jobs.key, r.fileId));
    expect(job?.kind).toBe('delete-file');
  });

  it('never exceeds the licence quota under 100 parallel reservations', async () => {
    // The quota holds committed files and reservations in progress alike (heldBytes).
    const used = await heldBytes(fx.database.db);
    const tight: Ctx = { ...fx.alice, license: { ...fx.license, limits: { ...fx.license.limits, protectedBytes: used + 10_000 } } };
    const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => reserveFile(tight, { name: `q-${i}.bin`, size: 150, type: '', k: 2 })));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    expect(ok).toBe(66);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r.reason as { code?: string }).code === 'STORAGE_FULL')).toBe(true);
    expect((await usage(fx.database.db, fx.license)).protectedBytes).toBeLessThanOrEqual(used + 10_000);
  });
});
