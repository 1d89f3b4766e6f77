/**
 * protectMany (shared/src/protocol/protect-many.ts) against the coordinator's batch routes in process and
 * three real relay processes: files go in pipelined runs (issue #14), the next run reserved and the
 * previous one committed while a run uploads; every file rebuilds byte for byte; a run whose reservation
 * is refused as a whole ends the call with that error only after the commits already asked for are done.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { inArray } from 'drizzle-orm';
import { KofnError, protectMany, type CoordinatorApi } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import { files } from './db/schema.js';
import { commitFiles, removeFile } from './files.js';
import { reserveFiles } from './reservations.js';
import { freshTokens } from './capabilities.js';
import type { Ctx } from './file-access.js';
import { retrieve } from './testing/protect.js';
import { useFileServices } from './testing/file-services.js';

/** The routes protectMany calls, as their handlers call the services; `hook` runs before each and may hold it. */
function inProcess(ctx: Ctx, hook: (call: string, n: number) => Promise<void> | void = () => undefined): CoordinatorApi & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    call: async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const b = (body ?? {}) as Record<string, unknown>;
      const name = method === 'POST' && path === '/api/files/batch' ? 'reserve' : method === 'POST' && path === '/api/files/commit' ? 'commit' : `${method} ${path}`;
      calls.push(name);
      await hook(name, calls.filter((c) => c === name).length);
      if (name === 'reserve') return (await reserveFiles(ctx, b)) as T;
      if (name === 'commit') return (await commitFiles(ctx, b)) as T;
      const tokens = /^\/api\/files\/([0-9a-f]{32})\/tokens$/.exec(path);
      if (method === 'POST' && tokens) return (await freshTokens(ctx, tokens[1], b.op)) as T;
      const file = /^\/api\/files\/([0-9a-f]{32})$/.exec(path);
      if (method === 'DELETE' && file) return (await removeFile(ctx, file[1])) as T;
      throw new Error(`test adapter: no route ${method} ${path}`);
    }
  };
}

describeDatabases('protectMany in pipelined runs on $name with real relays', ({ open }) => {
  const fx = useFileServices(open);

  it('reserves the next run and commits the previous one while a run uploads; every file rebuilds', async () => {
    const list = Array.from({ length: 12 }, (_, i) => ({ name: `run-${i}.bin`, data: randomBytes(i * 37) }));
    // The first commit is held until the third reservation is asked for, which only happens once the second
    // run is uploading: a protectMany that waited for each commit before the next run would never finish.
    let third!: () => void;
    const thirdAsked = new Promise<void>((ok) => (third = ok));
    const api = inProcess(fx.alice, async (call, n) => {
      if (call === 'reserve' && n === 3) third();
      if (call === 'commit' && n === 1) await thirdAsked;
    });
    const out = await protectMany(api, list, { k: 2, runFiles: 5, parallel: 3 });
    expect(out.map((r) => r.ok)).toEqual(list.map(() => true));
    expect(api.calls.filter((c) => c === 'reserve' || c === 'commit')).toEqual(['reserve', 'reserve', 'commit', 'reserve', 'commit', 'commit']);
    for (const [i, r] of out.entries()) if (r.ok) expect(Buffer.from(await retrieve(fx.alice, r.fileId)).equals(list[i]!.data)).toBe(true);
  });

  it('ends with a refused reservation of a later run, once the runs before it are committed', async () => {
    const list = Array.from({ length: 6 }, (_, i) => ({ name: `refused-${i}.bin`, data: randomBytes(10 + i) }));
    const api = inProcess(fx.alice, (call, n) => {
      if (call === 'reserve' && n === 2) throw new KofnError('STORAGE_FULL', 'Storage limit reached: the licence allows no more protected bytes.');
    });
    const committed: string[] = [];
    const err = await protectMany(api, list, { k: 2, runFiles: 4, onFile: (r) => r.ok && committed.push(r.name) }).catch((e: unknown) => e);
    expect((err as KofnError).code).toBe('STORAGE_FULL');
    expect(committed.sort()).toEqual(list.slice(0, 4).map((f) => f.name));
    const rows = await fx.database.db
      .select({ name: files.name, status: files.status })
      .from(files)
      .where(
        inArray(
          files.name,
          list.map((f) => f.name)
        )
      );
    expect(rows.map((r) => `${r.name} ${r.status}`).sort()).toEqual(list.slice(0, 4).map((f) => `${f.name} available`));
  });
});
