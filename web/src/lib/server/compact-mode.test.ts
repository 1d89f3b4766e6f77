/**
 * Issue #23, compact mode in the coordinator (reservations.ts fileMode, capabilities.ts, files.ts): the
 * reservation takes `mode: 'shamir' | 'compact'` (default Shamir; anything else a 400 WRONG_VALUE with
 * nothing stored), the mode is kept with the file and shown in the list and manifest, put tokens bound a
 * compact file's shares to its n/k smaller fragments, commit checks a compact file's version-2 chunks at
 * their exact sizes, and the quota counts plaintext in both modes. PGlite and PostgreSQL, real relays.
 */
import { expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { compactShareChunkLength } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import { files } from './db/schema.js';
import { commitFile, listFiles, manifest } from './files.js';
import { reserveFile, reserveFiles } from './reservations.js';
import { heldBytes } from './usage.js';
import { errorResponse } from './http.js';
import { protect, retrieve, roots, upload } from './testing/protect.js';
import { errorCode, useFileServices } from './testing/file-services.js';

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describeDatabases('compact mode in the coordinator on $name with real relays', ({ open }) => {
  const fx = useFileServices(open);

  it('refuses a mode that is not shamir or compact with WRONG_VALUE (400), storing nothing', async () => {
    const base = { name: 'mode.bin', size: 10, type: '', k: 2 };
    const before = await fx.database.db.select({ id: files.id }).from(files);
    for (const mode of ['fast', 'COMPACT', '', 1, null, true, { compact: true }, ['compact']]) {
      const p = reserveFile(fx.alice, { ...base, mode });
      expect(await errorCode(p), JSON.stringify(mode)).toBe('WRONG_VALUE');
      const res = errorResponse(await p.catch((e: unknown) => e));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe('Wrong value supplied for field "mode". Valid values are shamir, compact.');
    }
    expect(await fx.database.db.select({ id: files.id }).from(files)).toEqual(before);
    // In a batch, the bad item fails on its own; the good one is reserved with its mode.
    const batch = await reserveFiles(fx.alice, {
      files: [
        { ...base, name: 'batch-bad.bin', mode: 'zip' },
        { ...base, name: 'batch-good.bin', mode: 'compact' }
      ]
    });
    expect(batch.results[0]).toMatchObject({ ok: false, error: { code: 'WRONG_VALUE' } });
    expect(batch.results[1]).toMatchObject({ ok: true, reservation: { mode: 'compact' } });
  });

  it('defaults to Shamir: reservation, list and manifest say so, and the file round-trips as before', async () => {
    const r = await reserveFile(fx.alice, { name: 'default-mode.bin', size: 1, type: '', k: 2 });
    expect(r.mode).toBe('shamir');
    const data = bytes(3000, 1);
    const id = await protect(fx.alice, 'shamir-file.bin', data, 2);
    expect((await listFiles(fx.alice)).find((f) => f.id === id)?.mode).toBe('shamir');
    expect((await manifest(fx.alice, id)).mode).toBe('shamir');
    expect(Buffer.from(await retrieve(fx.alice, id)).equals(Buffer.from(data))).toBe(true);
  });

  it.each([
    [0, 2],
    [1, 2],
    [1024 * 1024, 3],
    [2 * 1024 * 1024 + 5, 2]
  ])('a %i-byte compact file (k=%i) commits with its fragment sizes, is listed as compact and round-trips', async (size, k) => {
    const data = bytes(size, 7);
    const held = await heldBytes(fx.database.db);
    const u = await upload(fx.alice, `compact-${size}-${k}.bin`, data, k, { mode: 'compact' });
    // The licence and quota count plaintext, as for Shamir files.
    expect(await heldBytes(fx.database.db)).toBe(held + size);
    // Every relay's data chunk is a version-2 fragment: header + ceil((data + 16) / k), n/k of Shamir's.
    for (const c of u.chunks.filter((c) => c.index > 0)) {
      const plain = Math.min(1024 * 1024, size - (c.index - 1) * 1024 * 1024);
      for (const s of c.shares) {
        expect(s.length).toBe(compactShareChunkLength(plain, k));
        expect(s[4]).toBe(2);
      }
    }
    await commitFile(fx.alice, u.fileId, { roots: await roots(u) });
    const [row] = await fx.database.db.select().from(files).where(eq(files.id, u.fileId));
    expect(row).toMatchObject({ mode: 'compact', status: 'available' });
    expect((await listFiles(fx.alice)).find((f) => f.id === u.fileId)?.mode).toBe('compact');
    expect((await manifest(fx.alice, u.fileId)).mode).toBe('compact');
    expect(Buffer.from(await retrieve(fx.alice, u.fileId)).equals(Buffer.from(data))).toBe(true);
  });

  it("a compact reservation's put tokens refuse Shamir-sized shares (the relay answers PAYLOAD_TOO_LARGE)", async () => {
    const data = bytes(200_000, 3);
    expect(await errorCode(upload(fx.alice, 'compact-but-shamir.bin', data, 2, { mode: 'compact', encodeAs: 'shamir' }))).toBe('PAYLOAD_TOO_LARGE');
  });

  it("commit refuses compact fragments stored for a Shamir reservation (COMMIT_MISMATCH): the sizes are the mode's", async () => {
    const data = bytes(200_000, 4);
    const u = await upload(fx.alice, 'shamir-but-compact.bin', data, 2, { encodeAs: 'compact' });
    expect(await errorCode(commitFile(fx.alice, u.fileId, { roots: await roots(u) }))).toBe('COMMIT_MISMATCH');
    const [row] = await fx.database.db.select().from(files).where(eq(files.id, u.fileId));
    expect(row?.status).toBe('reserved');
  });
});
