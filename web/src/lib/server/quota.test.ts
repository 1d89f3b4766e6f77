/**
 * Issue #13 item 8b and 8d on PGlite and PostgreSQL with real relay processes: put tokens bound each
 * share chunk to what this file's chunks can be, a commit is refused unless every relay holds exactly the
 * sizes the declared size makes, protected bytes count only committed files, and an expired licence's
 * limits end while the coordinator runs.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { FLAG_FINAL, createProtectStream, digestRoot, fileIdFromHex, maxShareChunkLength, writeHeader, HEADER_BYTES } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { createUser } from './auth.js';
import { ensureSigningKey } from './signing-keys.js';
import { loadConfig } from './config.js';
import { TIERS, UNLICENSED, effectiveLicense, type License } from './license.js';
import { commitFile, listFiles } from './files.js';
import { freshTokens } from './capabilities.js';
import { heldBytes, usage } from './usage.js';
import { reserveFile } from './reservations.js';
import type { Ctx } from './file-access.js';
import { startRelays, type TestRelay } from './testing/relays.js';
import { protect } from './testing/protect.js';

const CHUNK = 1024 * 1024;

const code = async (p: Promise<unknown>): Promise<string | undefined> => {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
};

/** A share chunk with a well-formed header for `index` and `bodyLength` zero bytes of body. */
function forgedShareChunk(fileId: string, x: number, index: number, bodyLength: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(HEADER_BYTES + bodyLength);
  writeHeader(out, { flags: FLAG_FINAL, x, k: 2, fileId: fileIdFromHex(fileId), index, epoch: 0, bodyLength });
  return out;
}

describeDatabases('quota and put bounds on $name with real relays', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  let relays: TestRelay[];
  let alice: Ctx;
  const license: License = { ...UNLICENSED, limits: { ...UNLICENSED.limits } };

  beforeAll(async () => {
    database = await open();
    const key = await ensureSigningKey(database.db);
    relays = await startRelays(database.db, 3);
    const config = loadConfig({ KOFN_RELAY_OFFLINE_AFTER: '3600' });
    const user = await createUser(database.db, { email: 'alice@q.test', displayName: 'Alice', role: 'user' }, 10);
    alice = { db: database.db, user, license, key, config };
  }, 60_000);

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await database.drop();
  });

  it('mints put tokens bounded to the largest share chunk of the file and to its chunk range', async () => {
    for (const size of [1024, 3 * CHUNK + 5]) {
      const r = await reserveFile(alice, { name: `bounds-${size}.bin`, size, type: '', k: 2 });
      const claims = decodeJwt(r.placements[0]!.token);
      expect(claims).toMatchObject({ op: 'put', fid: r.fileId, chunks: [0, r.chunkCount], max: maxShareChunkLength(size, CHUNK) });
    }
    expect(maxShareChunkLength(1024, CHUNK)).toBeLessThan(1500);
  });

  it('attack: a client that declares 1 KiB cannot PUT a MiB, nor stream a GiB, to a relay', async () => {
    const r = await reserveFile(alice, { name: 'small-declared.bin', size: 1024, type: '', k: 2 });
    const p = r.placements[0]!;
    const url = `${p.url}/v1/files/${r.fileId}/chunks/1`;
    // A well-formed 1 MiB share chunk: the old bound (a whole chunk, whatever the declared size) took it.
    const mib = await fetch(url, { method: 'PUT', body: forgedShareChunk(r.fileId, p.x, 1, CHUNK), headers: { Authorization: `Bearer ${p.token}` } });
    expect(mib.status).toBe(413);
    expect(((await mib.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');

    // 1 GiB streamed without a length: the relay stops reading at the token's bound.
    let pulled = 0;
    const gib = 1024 * CHUNK;
    const header = forgedShareChunk(r.fileId, p.x, 1, 0);
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= gib) {
          controller.close();
          return;
        }
        const part = pulled === 0 ? header : new Uint8Array(64 * 1024);
        pulled += part.length;
        controller.enqueue(part);
      }
    });
    const status = await fetch(url, { method: 'PUT', body, headers: { Authorization: `Bearer ${p.token}` }, duplex: 'half' } as RequestInit).then(
      (res) => res.status,
      () => 'connection closed by the relay'
    );
    expect([413, 'connection closed by the relay']).toContain(status);
    expect(pulled).toBeLessThan(64 * CHUNK);

    // Nothing of either attempt was stored.
    const { tokens } = await freshTokens(alice, r.fileId, 'list');
    const list = tokens.find((t) => t.relayId === p.relayId)!.token;
    const listed = (await (await fetch(`${p.url}/v1/files/${r.fileId}/chunks`, { headers: { Authorization: `Bearer ${list}` } })).json()) as { chunks: unknown[] };
    expect(listed.chunks).toEqual([]);
  });

  /**
   * Reserves `declared` bytes, then stores the shares of `actual` bytes (same file id and x) on every
   * relay with the reservation's own put tokens, and asks to commit with the true digest roots.
   */
  async function commitOtherSize(name: string, declared: number, actual: number): Promise<{ fileId: string; result: string | undefined }> {
    const r = await reserveFile(alice, { name, size: declared, type: 'application/octet-stream', k: 2 });
    const p = await createProtectStream({
      k: 2,
      xs: r.placements.map((pl) => pl.x),
      fileId: fileIdFromHex(r.fileId),
      file: { name, size: actual, type: 'application/octet-stream', chunkSize: r.chunkSize }
    });
    const writing = (async () => {
      const w = p.writable.getWriter();
      await w.write(new Uint8Array(actual).fill(7));
      await w.close();
    })();
    const digests = r.placements.map(() => [] as string[]);
    for await (const c of p.readable) {
      await Promise.all(
        r.placements.map(async (pl, j) => {
          const res = await fetch(`${pl.url}/v1/files/${r.fileId}/chunks/${c.index}`, { method: 'PUT', body: c.shares[j], headers: { Authorization: `Bearer ${pl.token}` } });
          expect(res.status, 'the token bound lets this chunk in; only the commit can tell').toBe(201);
          digests[j]!.push(((await res.json()) as { digest: string }).digest);
        })
      );
    }
    await writing;
    const roots: Record<string, string> = {};
    for (const [j, pl] of r.placements.entries()) roots[pl.relayId] = await digestRoot(digests[j]!);
    return { fileId: r.fileId, result: await code(commitFile(alice, r.fileId, { roots })) };
  }

  it('attack: a client that declares one size and stores chunks of another is refused at commit, and nothing is counted', async () => {
    const before = (await usage(database.db, license)).protectedBytes;
    // Last chunk inflated to a whole chunk (the bound for any index lets it in): 1 MiB + 10 declared, 2 MiB stored.
    const inflated = await commitOtherSize('inflated.bin', CHUNK + 10, 2 * CHUNK);
    expect(inflated.result).toBe('COMMIT_MISMATCH');
    // Last chunk shorter than declared.
    const short = await commitOtherSize('short.bin', CHUNK + 100, CHUNK + 10);
    expect(short.result).toBe('COMMIT_MISMATCH');
    const mine = await listFiles(alice);
    for (const id of [inflated.fileId, short.fileId]) expect(mine.find((f) => f.id === id)?.status).toBe('reserved');
    expect((await usage(database.db, license)).protectedBytes).toBe(before);
    // The same flow with matching sizes commits (the check is not refusing everything).
    expect((await commitOtherSize('matching.bin', CHUNK + 10, CHUNK + 10)).result).toBeUndefined();
    expect((await usage(database.db, license)).protectedBytes).toBe(before + CHUNK + 10);
  });

  it('counts protected bytes from committed files only, while the quota also holds reservations in progress', async () => {
    const used = (await usage(database.db, license)).protectedBytes;
    await reserveFile(alice, { name: 'pending.bin', size: 5000, type: '', k: 2 });
    expect((await usage(database.db, license)).protectedBytes).toBe(used);
    await protect(alice, 'committed.bin', new Uint8Array(3000).fill(1), 2);
    expect((await usage(database.db, license)).protectedBytes).toBe(used + 3000);

    const held = await heldBytes(database.db);
    const tight: Ctx = { ...alice, license: { ...license, limits: { ...license.limits, protectedBytes: held + 100 } } };
    expect(await code(reserveFile(tight, { name: 'over.bin', size: 101, type: '', k: 2 }))).toBe('STORAGE_FULL');
    expect(await code(reserveFile(tight, { name: 'fits.bin', size: 100, type: '', k: 2 }))).toBeUndefined();
  });

  it('an expired licence gives Essential limits to the next reservation, without a restart', async () => {
    const pro: License = { id: 'L-exp', licensee: 'ACME', tier: 'Pro', limits: { ...TIERS.Pro }, issuedAt: '2030-01-01T00:00:00.000Z', expiresAt: '2030-06-30T23:59:59.000Z', licensed: true };
    const at = (iso: string): Ctx => ({ ...alice, license: effectiveLicense(pro, new Date(iso)) });
    const big = { name: 'two-gb.bin', size: 2e9, type: '', k: 2 };
    const before = await reserveFile(at('2030-06-30T12:00:00.000Z'), big);
    expect(before.chunkCount).toBe(Math.ceil(2e9 / CHUNK));
    expect(await code(reserveFile(at('2030-07-01T00:00:00.000Z'), { ...big, name: 'two-gb-later.bin' }))).toBe('FILE_TOO_BIG');
  });
});
