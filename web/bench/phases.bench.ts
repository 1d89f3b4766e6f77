/**
 * Many small files, phase by phase (issue #14): where a protectMany batch spends its time on the
 * coordinator. 1,000 files of 4 KiB with (2,3): the batch reserve, the PUTs (8 files at once), the batch
 * commit, each timed alone, on PGlite and (with DATABASE_URL) PostgreSQL. Medians of 3; prints, never
 * asserts speed. KOFN_BENCH_FILES shrinks it.
 */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';
import { benchDatabases, median, useBenchStack } from './bench-stack.js';
import { commitFiles } from '../src/lib/server/files.js';
import { reserveFiles } from '../src/lib/server/reservations.js';
import { uploadSmall, type CoordinatorApi, type Reservation } from '@kofn/shared';

const lines: string[] = [];

describe.each(benchDatabases)('batch phases on $name', (database) => {
  const stack = useBenchStack(database, lines);
  const { name } = database;

  it('times reserve, PUTs and commit of one batch', async () => {
    const { ctx, relays } = stack;
    const FILES = Number(process.env.KOFN_BENCH_FILES ?? 1000);
    const PARALLEL = 8;
    // uploadSmall asks the coordinator for nothing while tokens are fresh.
    const api: CoordinatorApi = {
      call: () => Promise.reject(new Error('bench: no coordinator call expected during the PUTs'))
    };
    const reserve: number[] = [];
    const put: number[] = [];
    const commit: number[] = [];
    for (let round = 0; round < 3; round++) {
      const plain = Array.from({ length: FILES }, (_, i) => ({ name: `p-${round}-${i}.bin`, data: randomBytes(4096) }));
      let t = performance.now();
      const { results } = await reserveFiles(ctx, { files: plain.map((f) => ({ name: f.name, size: 4096, type: '', k: 2, relays: relays.map((r) => r.id) })) });
      reserve.push(performance.now() - t);
      const rs = results.map((x) => (x.ok ? x.reservation : undefined)).filter((x): x is Reservation => x !== undefined);
      if (rs.length !== FILES) throw new Error('bench: reservations refused');
      const roots: Array<Record<string, string>> = [];
      t = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          while (next < FILES) {
            const i = next++;
            roots[i] = await uploadSmall(api, rs[i]!, plain[i]!);
          }
        })
      );
      put.push(performance.now() - t);
      t = performance.now();
      const out = await commitFiles(ctx, { files: rs.map((r, i) => ({ fileId: r.fileId, roots: roots[i] })) });
      commit.push(performance.now() - t);
      if (out.results.some((r) => !r.ok)) throw new Error(`bench: ${out.results.filter((r) => !r.ok).length} commits failed`);
    }
    lines.push(
      `${name}: one batch of ${FILES} x 4 KiB, 2 of 3: reserve ${median(reserve).toFixed(0)} ms, PUTs ${median(put).toFixed(0)} ms (${PARALLEL} files at once), ` +
        `commit ${median(commit).toFixed(0)} ms (medians of 3; rounds ${reserve.map((x) => x.toFixed(0)).join('/')}, ${put.map((x) => x.toFixed(0)).join('/')}, ${commit.map((x) => x.toFixed(0)).join('/')})`
    );
  });
});
