/**
 * Batch reservation and batch commit (batch.ts, reservations.ts reserveFiles, files.ts commitFiles) on
 * PGlite and PostgreSQL with real relay processes: per-item results with stable codes, the licence's
 * storage counted over a whole batch at once, other users' and replayed commits refused per item.
 */
import { randomBytes } from 'node:crypto';
import { readdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { eq, inArray } from 'drizzle-orm';
import { LIST_BATCH_PATH, createProtectStream, fileIdFromHex, RelayClient, digestRoot, type Reservation } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import { files, relays as relayTable } from './db/schema.js';
import { slowProxy } from './testing/slow-proxy.js';
import { commitFiles, listFiles } from './files.js';
import { reserveFile, reserveFiles } from './reservations.js';
import { heldBytes } from './usage.js';
import { MAX_BATCH_FILES } from './batch.js';
import type { Ctx } from './file-access.js';
import { retrieve } from './testing/protect.js';
import { errorCode, useFileServices } from './testing/file-services.js';

/** Splits `data` for a reservation and PUTs every share chunk; answers the digest root per relay. */
async function uploadTo(r: Reservation, name: string, data: Uint8Array): Promise<Record<string, string>> {
  const p = await createProtectStream({
    k: r.k,
    xs: r.placements.map((pl) => pl.x),
    fileId: fileIdFromHex(r.fileId),
    file: { name, size: data.length, type: 'application/octet-stream', chunkSize: r.chunkSize }
  });
  const writing = (async () => {
    const w = p.writable.getWriter();
    await w.write(data);
    await w.close();
  })();
  const digests = r.placements.map(() => [] as string[]);
  for await (const c of p.readable) {
    await Promise.all(
      r.placements.map(async (pl, j) => {
        const client = new RelayClient({ id: pl.relayId, name: pl.name, url: pl.url }, { token: () => pl.token });
        digests[j]![c.index] = (await client.put(r.fileId, c.index, new Uint8Array(c.shares[j]!))).digest;
      })
    );
  }
  await writing;
  const roots: Record<string, string> = {};
  for (const [j, pl] of r.placements.entries()) roots[pl.relayId] = await digestRoot(digests[j]!);
  return roots;
}

const reserved = (x: Awaited<ReturnType<typeof reserveFiles>>['results'][number]): Reservation => {
  if (!x.ok) throw new Error(`expected a reservation, got ${x.error.code}`);
  return x.reservation;
};

describeDatabases('batch reserve and commit on $name with real relays', { once: true }, ({ open }) => {
  const fx = useFileServices(open);

  it('reserves, uploads and commits several files in two requests; each rebuilds byte for byte', async () => {
    const datas = [randomBytes(4096), randomBytes(0), randomBytes(70_000)];
    const { results } = await reserveFiles(fx.alice, { files: datas.map((d, i) => ({ name: `b-${i}.bin`, size: d.length, type: '', k: 2 })) });
    const rs = results.map(reserved);
    expect(new Set(rs.map((r) => r.fileId)).size).toBe(3);
    for (const r of rs) expect(r).toMatchObject({ k: 2, n: 3, epoch: 0 });
    const roots = await Promise.all(rs.map((r, i) => uploadTo(r, `b-${i}.bin`, datas[i]!)));
    const committed = await commitFiles(fx.alice, { files: rs.map((r, i) => ({ fileId: r.fileId, roots: roots[i] })) });
    expect(committed.results).toEqual(rs.map((r) => ({ ok: true, commit: { fileId: r.fileId, status: 'available' } })));
    for (const [i, r] of rs.entries()) expect(Buffer.from(await retrieve(fx.alice, r.fileId)).equals(datas[i]!)).toBe(true);
    // Replayed: the same batch again commits nothing and says so per file.
    const again = await commitFiles(fx.alice, { files: rs.map((r, i) => ({ fileId: r.fileId, roots: roots[i] })) });
    expect(again.results.map((x) => (x.ok ? 'ok' : x.error.code))).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND']);
  });

  it('answers each bad item with its own stable code and reserves the good ones', async () => {
    await reserveFile(fx.alice, { name: 'taken.bin', size: 1, type: '', k: 2 });
    const { results } = await reserveFiles(fx.alice, {
      files: [
        { name: 'good-1.bin', size: 10, type: '', k: 2 },
        { name: 'a/b', size: 10, type: '', k: 2 },
        { name: 'good-2.bin', size: 10, type: '', k: 1 },
        { name: 'taken.bin', size: 10, type: '', k: 2 },
        { name: 'twice.bin', size: 10, type: '', k: 2 },
        { name: 'twice.bin', size: 10, type: '', k: 2 },
        { name: 'big.bin', size: fx.license.limits.maxFileSize + 1, type: '', k: 2 },
        { name: 'far.bin', size: 10, type: '', k: 4 },
        { name: 'nowhere.bin', size: 10, type: '', k: 2, relays: ['not-a-relay'] }
      ]
    });
    expect(results.map((x) => (x.ok ? 'ok' : x.error.code))).toEqual([
      'ok',
      'INVALID_FILENAME',
      'THRESHOLD_TOO_LOW',
      'FILENAME_IN_USE',
      'ok',
      'FILENAME_IN_USE',
      'FILE_TOO_BIG',
      'THRESHOLD_TOO_HIGH',
      'WRONG_VALUE'
    ]);
    const names = (await listFiles(fx.alice)).map((f) => f.name);
    expect(names.filter((n) => n === 'twice.bin')).toHaveLength(1);
    expect(names).toContain('good-1.bin');
    expect(names).not.toContain('far.bin');
  });

  it('refuses malformed batches as a whole', async () => {
    for (const input of [
      {},
      { files: [] },
      { files: 'x' },
      { files: [null] },
      { files: [[]] },
      { files: Array.from({ length: MAX_BATCH_FILES + 1 }, (_, i) => ({ name: `m-${i}`, size: 1, type: '', k: 2 })) }
    ]) {
      expect(await errorCode(reserveFiles(fx.alice, input as Record<string, unknown>)), JSON.stringify(input).slice(0, 40)).toBe('WRONG_VALUE');
      expect(await errorCode(commitFiles(fx.alice, input as Record<string, unknown>))).toBe('WRONG_VALUE');
    }
    const { results } = await commitFiles(fx.alice, { files: [{ fileId: 'zz' }, { fileId: 'a'.repeat(32), roots: 'x' }] });
    expect(results.map((x) => (x.ok ? 'ok' : x.error.code))).toEqual(['NOT_FOUND', 'BAD_REQUEST']);
  });

  it("counts the licence's storage over the whole batch at once: a batch that does not fit reserves nothing", async () => {
    const used = await heldBytes(fx.database.db);
    const tight: Ctx = { ...fx.alice, license: { ...fx.license, limits: { ...fx.license.limits, protectedBytes: used + 1000 } } };
    const many = (tag: string, count: number) => ({ files: Array.from({ length: count }, (_, i) => ({ name: `${tag}-${i}.bin`, size: 100, type: '', k: 2 })) });
    expect(await errorCode(reserveFiles(tight, many('over', 11)))).toBe('STORAGE_FULL');
    expect(await heldBytes(fx.database.db)).toBe(used);
    // Five parallel batches of 4 (2,000 bytes) against 1,000 free: at most two fit, never a part of one.
    const settled = await Promise.allSettled(Array.from({ length: 5 }, (_, b) => reserveFiles(tight, many(`par-${b}`, 4))));
    const ok = settled.filter((s) => s.status === 'fulfilled');
    expect(ok).toHaveLength(2);
    for (const s of settled) if (s.status === 'rejected') expect((s.reason as { code: string }).code).toBe('STORAGE_FULL');
    expect(await heldBytes(fx.database.db)).toBe(used + 800);
  });

  it("refuses another user's reservation, a duplicate id and a mismatch per file, and commits the rest", async () => {
    const mine = (
      await reserveFiles(fx.alice, {
        files: [
          { name: 'c-1.bin', size: 500, type: '', k: 2 },
          { name: 'c-2.bin', size: 500, type: '', k: 2 },
          { name: 'c-3.bin', size: 500, type: '', k: 2 }
        ]
      })
    ).results.map(reserved);
    const roots = await Promise.all(mine.map((r, i) => uploadTo(r, `c-${i + 1}.bin`, randomBytes(500))));
    const bad = { ...roots[2]!, [mine[2]!.placements[0]!.relayId]: '0'.repeat(64) };
    // Bob names Alice's reservations: the same 404 as for a missing file, and nothing changes.
    const bobs = await commitFiles(fx.bob, { files: [{ fileId: mine[0]!.fileId, roots: roots[0] }] });
    expect(bobs.results).toEqual([{ ok: false, error: { code: 'NOT_FOUND', message: 'File not found on the servers.' } }]);
    const { results } = await commitFiles(fx.alice, {
      files: [
        { fileId: mine[0]!.fileId, roots: roots[0] },
        { fileId: mine[0]!.fileId, roots: roots[0] },
        { fileId: mine[1]!.fileId, roots: roots[1] },
        { fileId: mine[2]!.fileId, roots: bad }
      ]
    });
    expect(results.map((x) => (x.ok ? 'ok' : x.error.code))).toEqual(['ok', 'WRONG_VALUE', 'ok', 'COMMIT_MISMATCH']);
    const rows = await fx.database.db
      .select({ id: files.id, status: files.status })
      .from(files)
      .where(
        inArray(
          files.id,
          mine.map((r) => r.fileId)
        )
      );
    expect(Object.fromEntries(rows.map((r) => [r.id, r.status]))).toEqual({ [mine[0]!.fileId]: 'available', [mine[1]!.fileId]: 'available', [mine[2]!.fileId]: 'reserved' });
    // The mismatched one commits once its true roots are given.
    expect((await commitFiles(fx.alice, { files: [{ fileId: mine[2]!.fileId, roots: roots[2] }] })).results[0]!.ok).toBe(true);
    const [row] = await fx.database.db.select().from(files).where(eq(files.id, mine[2]!.fileId));
    expect(row?.status).toBe('available');
  });

  it("lists each relay's files in one request at commit, and a relay without that route one file at a time", async () => {
    // A loopback proxy in front of the first relay counts what reaches it; the second time it answers the
    // batch route 404, as a relay from before the route (relay/src/batch-list.ts) does.
    const target = fx.relays[0]!;
    const round = async (tag: string, rules: Parameters<typeof slowProxy>[1]) => {
      const proxy = await slowProxy(target.url, rules);
      await fx.database.db.update(relayTable).set({ url: proxy.url }).where(eq(relayTable.id, target.id));
      try {
        const datas = [randomBytes(100), randomBytes(0), randomBytes(3000), randomBytes(1)];
        const rs = (await reserveFiles(fx.alice, { files: datas.map((d, i) => ({ name: `${tag}-${i}.bin`, size: d.length, type: '', k: 2 })) })).results.map(reserved);
        const roots = await Promise.all(rs.map((r, i) => uploadTo(r, `${tag}-${i}.bin`, datas[i]!)));
        proxy.seen.length = 0;
        const { results } = await commitFiles(fx.alice, { files: rs.map((r, i) => ({ fileId: r.fileId, roots: roots[i] })) });
        expect(results.map((x) => x.ok)).toEqual([true, true, true, true]);
        for (const [i, r] of rs.entries()) expect(Buffer.from(await retrieve(fx.alice, r.fileId)).equals(datas[i]!)).toBe(true);
        return proxy.seen.map((s) => s.replace(/[0-9a-f]{32}/, 'F'));
      } finally {
        await fx.database.db.update(relayTable).set({ url: target.url }).where(eq(relayTable.id, target.id));
        await proxy.close();
      }
    };
    const seenBatch = await round('lists', []);
    expect(seenBatch.filter((s) => !s.startsWith('GET F') && !s.includes('/chunks/'))).toEqual([`POST ${LIST_BATCH_PATH}`]);
    const old = await round('old', [{ method: 'POST', path: /^\/v1\/files\/lists$/, ms: 0, status: 404 }]);
    expect(old.filter((s) => !s.includes('/chunks/'))).toEqual([`POST ${LIST_BATCH_PATH}`, ...Array.from({ length: 4 }, () => 'GET /v1/files/F/chunks')]);
  });

  it("fails only the file a relay could not list in the batch, with the relay's code, and commits the others", async () => {
    const datas = [randomBytes(10), randomBytes(20)];
    const rs = (await reserveFiles(fx.alice, { files: datas.map((d, i) => ({ name: `eloop-${i}.bin`, size: d.length, type: '', k: 2 })) })).results.map(reserved);
    const roots = await Promise.all(rs.map((r, i) => uploadTo(r, `eloop-${i}.bin`, datas[i]!)));
    // A real storage fault on one relay for the second file: a chunk replaced by a symlink loop, so that
    // relay's listing of it fails (ELOOP, answered INTERNAL) while its listing of the first file succeeds.
    const relay = fx.relays.find((r) => r.id === rs[1]!.placements[0]!.relayId)!;
    const folder = (await readdir(relay.dataDir, { recursive: true })).find((f) => f.endsWith(rs[1]!.fileId))!;
    const chunk = join(
      relay.dataDir,
      folder,
      (await readdir(join(relay.dataDir, folder))).find((n) => n.startsWith('1.'))!
    );
    await rm(chunk);
    await symlink(chunk, chunk);
    const { results } = await commitFiles(fx.alice, { files: rs.map((r, i) => ({ fileId: r.fileId, roots: roots[i] })) });
    expect(results.map((x) => (x.ok ? 'ok' : x.error.code))).toEqual(['ok', 'INTERNAL']);
  });
});
