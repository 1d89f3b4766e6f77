/**
 * Coordinator benchmark on PGlite and (with DATABASE_URL) PostgreSQL: reserve + upload + commit rate with
 * three real relay processes (empty files: the metadata chunk on each relay, verified at commit), reserve
 * rate alone, and file listing latency for a user with 10,000 files. Many small files (issue #14): 1,000
 * files of 4 KiB with (2,3) through the protocol core (protectMany: batch reserve + PUTs to the real relays
 * + batch commit) against a baseline in the same run of the same PUTs (same split, same parallelism) of
 * files reserved beforehand, without the coordinator; and a second baseline (issue #18): the same bytes
 * (1,000 x 4 KiB) protected as one file through the same core and relays, so the per-file cost shows.
 * Medians; prints, never asserts speed.
 */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';
import { benchDatabases, median, useBenchStack } from './bench-stack.js';
import { files, placements } from '../src/lib/server/db/schema.js';
import { listFiles } from '../src/lib/server/files.js';
import { reserveFile } from '../src/lib/server/reservations.js';
import { protect } from '../src/lib/server/testing/protect.js';
import { commitFiles, removeFile } from '../src/lib/server/files.js';
import { reserveFiles } from '../src/lib/server/reservations.js';
import { freshTokens } from '../src/lib/server/capabilities.js';
import { protectMany, uploadSmall, type CoordinatorApi, type Reservation } from '@kofn/shared';

const lines: string[] = [];

describe.each(benchDatabases)('coordinator on $name', (database) => {
  const stack = useBenchStack(database, lines);
  const { name } = database;

  it('measures many small files: protectMany against the same PUTs without the coordinator', async () => {
    const { ctx, relays } = stack;
    // KOFN_BENCH_FILES shrinks the run to check the bench itself; the figure is for 1,000.
    const FILES = Number(process.env.KOFN_BENCH_FILES ?? 1000);
    const PARALLEL = 8;
    // The coordinator's routes in process: the same service calls the route handlers make.
    const api: CoordinatorApi = {
      call: async <T>(method: string, path: string, body?: unknown): Promise<T> => {
        const b = (body ?? {}) as Record<string, unknown>;
        if (method === 'POST' && path === '/api/files/batch') return (await reserveFiles(ctx, b)) as T;
        if (method === 'POST' && path === '/api/files/commit') return (await commitFiles(ctx, b)) as T;
        const tokens = /^\/api\/files\/([0-9a-f]{32})\/tokens$/.exec(path);
        if (method === 'POST' && tokens) return (await freshTokens(ctx, tokens[1], b.op)) as T;
        const file = /^\/api\/files\/([0-9a-f]{32})$/.exec(path);
        if (method === 'DELETE' && file) return (await removeFile(ctx, file[1])) as T;
        throw new Error(`bench adapter: no route ${method} ${path}`);
      }
    };
    const make = (tag: string) => Array.from({ length: FILES }, (_, i) => ({ name: `${tag}-${i}.bin`, data: randomBytes(4096) }));
    const full: number[] = [];
    const base: number[] = [];
    const oneFile: number[] = [];
    for (let round = 0; round < 3; round++) {
      // The same bytes as one file (reserve, split, PUTs, commit): seconds, as files/s of 4 KiB it amounts to.
      const joined = randomBytes(FILES * 4096);
      const t0 = performance.now();
      await protect(
        ctx,
        `one-${round}.bin`,
        joined,
        2,
        relays.map((r) => r.id)
      );
      oneFile.push(FILES / ((performance.now() - t0) / 1000));
      // Baseline: reserved beforehand (untimed), then only the split and the PUTs, PARALLEL files at once.
      const plain = make(`base-${round}`);
      const { results } = await reserveFiles(ctx, { files: plain.map((f) => ({ name: f.name, size: 4096, type: '', k: 2, relays: relays.map((r) => r.id) })) });
      const rs = results.map((x) => (x.ok ? x.reservation : undefined)).filter((x): x is Reservation => x !== undefined);
      if (rs.length !== FILES) throw new Error('bench: baseline reservations refused');
      let t = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          while (next < FILES) {
            const i = next++;
            await uploadSmall(api, rs[i]!, plain[i]!);
          }
        })
      );
      base.push(FILES / ((performance.now() - t) / 1000));
      const many = make(`many-${round}`);
      t = performance.now();
      const out = await protectMany(api, many, { k: 2, relays: relays.map((r) => r.id), parallel: PARALLEL });
      full.push(FILES / ((performance.now() - t) / 1000));
      if (out.some((r) => !r.ok)) throw new Error(`bench: ${out.filter((r) => !r.ok).length} files failed`);
    }
    lines.push(
      `${name}: many small files (${FILES} x 4 KiB, 2 of 3, ${PARALLEL} files at once): protectMany ${median(full).toFixed(0)} files/s, ` +
        `baseline PUTs alone ${median(base).toFixed(0)} files/s, ratio ${(median(full) / median(base)).toFixed(2)}x; ` +
        `the same ${((FILES * 4096) / 1024 / 1024).toFixed(1)} MiB as one file ${median(oneFile).toFixed(0)} "files"/s (${((median(oneFile) * 4096) / 1024 / 1024).toFixed(2)} MiB/s), ` +
        `ratio many / one ${(median(full) / median(oneFile)).toFixed(2)}x (medians of 3)`
    );
  });

  it('measures', async () => {
    const { ctx, relays } = stack;
    // Reserve + upload + commit, one at a time, in rounds of 50.
    const full: number[] = [];
    for (let round = 0; round < 3; round++) {
      const t = performance.now();
      for (let i = 0; i < 50; i++) await protect(ctx, `full-${round}-${i}`, new Uint8Array(0), 2);
      full.push(50 / ((performance.now() - t) / 1000));
    }
    const reserve: number[] = [];
    for (let round = 0; round < 3; round++) {
      const t = performance.now();
      for (let i = 0; i < 100; i++) await reserveFile(ctx, { name: `r-${round}-${i}`, size: 10, type: '', k: 2 });
      reserve.push(100 / ((performance.now() - t) / 1000));
    }
    // Fill up to 10,000 available files directly, then time the listing.
    const have = 450;
    const relayIds = relays.map((r) => r.id);
    for (let start = have; start < 10_000; start += 500) {
      const batch = Array.from({ length: Math.min(500, 10_000 - start) }, (_, i) => ({
        id: randomBytes(16).toString('hex'),
        ownerId: ctx.user.id,
        name: `bulk-${start + i}.bin`,
        size: 1000,
        type: 'application/octet-stream',
        k: 2,
        n: 3,
        chunkSize: 1 << 20,
        chunkCount: 1,
        status: 'available' as const,
        committedAt: new Date()
      }));
      await ctx.db.insert(files).values(batch);
      await ctx.db.insert(placements).values(batch.flatMap((f) => relayIds.map((relayId, j) => ({ fileId: f.id, relayId, x: j + 1 }))));
    }
    const list: number[] = [];
    let count = 0;
    for (let i = 0; i < 7; i++) {
      const t = performance.now();
      count = (await listFiles(ctx)).length;
      list.push(performance.now() - t);
    }
    lines.push(
      `${name}: reserve+upload+commit ${median(full).toFixed(1)} files/s (3 relays, empty files, commit verified with each relay); ` +
        `reserve alone ${median(reserve).toFixed(0)}/s; list of ${count} files ${median(list).toFixed(0)} ms (median of 7)`
    );
  });
});
