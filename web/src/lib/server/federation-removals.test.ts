/**
 * Removal of remote groups' sub-files (issue #21 part 2; federation-removals.ts), on PGlite and PostgreSQL with
 * four real relays: removing a file with a group on another deployment records its sub-file for the owner
 * when the delete-file job runs (once, however often the job runs); the owner lists it and clears it once
 * the browser removed it there. Another user sees and clears nothing of it; malformed input is a 400 with
 * a code; clearing twice (a replay) is NOT_FOUND; a file without remote groups records nothing.
 */
import { expect, it } from 'vitest';
import { describeDatabases } from './db/testing.js';
import { federationRemotes, federationRemovals } from './db/schema.js';
import { removeFile } from './files.js';
import { reserveFile } from './reservations.js';
import { errorResponse } from './http.js';
import { runOne } from './jobs.js';
import { jobHandlers } from './maintenance.js';
import { clearRemoval, listRemovals } from './federation-removals.js';
import { useFileServices } from './testing/file-services.js';

const SUB_FILE = 'fedcba9876543210'.repeat(2);

describeDatabases('removal of remote sub-files on $name with four real relays', ({ open }) => {
  const fx = useFileServices(open, 4);
  const ids = () => fx.relays.map((r) => r.id);
  const layout = (fileId: string) => ({
    kind: 'tree',
    k: 3,
    groups: [
      { kind: 'local', k: 2, relays: ids().slice(0, 2) },
      { kind: 'local', k: 2, relays: ids().slice(2, 4) },
      { kind: 'remote', deployment: 'dep-x', k: 2, n: 3, fileId }
    ]
  });
  const runJobs = async () => {
    const handlers = jobHandlers(fx.database.db, fx.alice.key);
    while (await runOne(fx.database.db, 'test', handlers));
  };
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => ({ code: (e as { code?: string }).code, status: errorResponse(e).status })
    );

  it('records the sub-file when the file is removed, lists it for its owner only, clears it once; a replay is NOT_FOUND', async () => {
    await fx.database.db
      .insert(federationRemotes)
      .values({ id: 'r1', url: 'https://x.test', name: 'X', deploymentId: 'dep-x', fingerprint: 'f'.repeat(64), linkHandle: 'h', linkToken: 's', relays: [], status: 'ok', lastCheckedAt: new Date() });
    const r = await reserveFile(fx.alice, { name: 'with-remote.bin', size: 10, layout: layout(SUB_FILE) });
    const flat = await reserveFile(fx.alice, { name: 'flat.bin', size: 10, k: 2 });
    expect((await listRemovals(fx.alice)).removals).toEqual([]);
    await removeFile(fx.alice, r.fileId);
    await removeFile(fx.alice, flat.fileId);
    await runJobs();
    // A job that runs again (a retry after a relay failure) records nothing twice.
    await removeFile(fx.alice, r.fileId).catch(() => undefined);
    await runJobs();
    expect((await listRemovals(fx.alice)).removals).toEqual([{ deployment: 'dep-x', fileId: SUB_FILE }]);
    expect(await fx.database.db.select().from(federationRemovals)).toHaveLength(1);
    // Bob sees none of it and cannot clear it.
    expect((await listRemovals(fx.bob)).removals).toEqual([]);
    expect(await failure(clearRemoval(fx.bob, { deployment: 'dep-x', fileId: SUB_FILE }))).toEqual({ code: 'NOT_FOUND', status: 404 });
    // Malformed input: a 400 with its code, nothing cleared.
    for (const bad of [
      {},
      { deployment: 'dep-x' },
      { deployment: 'dep-x', fileId: 'not hex' },
      { deployment: 'dep-x', fileId: SUB_FILE.toUpperCase() },
      { deployment: '', fileId: SUB_FILE },
      { deployment: 'd'.repeat(101), fileId: SUB_FILE },
      { deployment: 7, fileId: SUB_FILE }
    ]) {
      expect(await failure(clearRemoval(fx.alice, bad)), JSON.stringify(bad)).toEqual({ code: 'WRONG_VALUE', status: 400 });
    }
    expect((await listRemovals(fx.alice)).removals).toHaveLength(1);
    expect(await clearRemoval(fx.alice, { deployment: 'dep-x', fileId: SUB_FILE })).toEqual({ cleared: true });
    expect((await listRemovals(fx.alice)).removals).toEqual([]);
    // Replayed: already cleared.
    expect(await failure(clearRemoval(fx.alice, { deployment: 'dep-x', fileId: SUB_FILE }))).toEqual({ code: 'NOT_FOUND', status: 404 });
  });
});
