/**
 * Remote groups in layouts (issue #21 part 2, federation; shared/docs/federation.md), at the home
 * coordinator, on PGlite and PostgreSQL with six real relays: a layout with a group on a linked deployment
 * is accepted and recorded in the manifest tree (deployment, the sub-file's id there, k_g, n_g) with
 * placements and tokens for the local relays only; the local part commits; everything this deployment's
 * relays hold rebuilds nothing (its coordinator alone cannot rebuild the file: issue #21), and with the
 * other side's sub-shares (kept in memory here: they never reach this coordinator) the file rebuilds.
 * Refusals: malformed remote groups, an unlinked deployment, a revoked link, the same sub-file twice, and a
 * layout where one deployment holds K groups; each with its stable code, never a 500, nothing stored.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { count, eq } from 'drizzle-orm';
import { RelayClient, createProtectStream, createRetrieveStream, digestRoot, fileIdFromHex, type EncodedChunk, type ErrorCode, type TreeManifest } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import { federationRemotes, files, placements } from './db/schema.js';
import { commitFile, manifest, removeFile } from './files.js';
import { reserveFile, reserveFiles } from './reservations.js';
import { errorResponse } from './http.js';
import { retrieveTree } from './testing/protect.js';
import { errorCode, useFileServices } from './testing/file-services.js';

const DEPLOYMENT = 'dep-x';
const SUB_FILE = '0123456789abcdef'.repeat(2);

describeDatabases('remote groups in layouts on $name with six real relays', ({ open }) => {
  const fx = useFileServices(open, 6);
  const ids = () => fx.relays.map((r) => r.id);
  const remote = (extra: Record<string, unknown> = {}) => ({ kind: 'remote', deployment: DEPLOYMENT, k: 2, n: 3, fileId: SUB_FILE, label: 'deployment X', ...extra });
  /** 3 of 3 groups: two local groups of 3 relays (any 2), and one group of 3 relays on deployment X. */
  const layout = (group: Record<string, unknown> = remote(), k = 3) => ({
    kind: 'tree',
    k,
    groups: [{ kind: 'local', k: 2, relays: ids().slice(0, 3) }, { kind: 'local', k: 2, relays: ids().slice(3, 6) }, group]
  });
  const link = (status: 'ok' | 'unreachable' | 'revoked') =>
    fx.database.db.insert(federationRemotes).values({
      id: 'remote-1',
      url: 'https://x.test',
      name: 'X',
      deploymentId: DEPLOYMENT,
      fingerprint: 'f'.repeat(64),
      linkHandle: 'handle',
      linkToken: 'sealed',
      relays: [],
      status,
      lastCheckedAt: new Date()
    });
  beforeEach(async () => {
    await link('ok');
  });
  afterEach(async () => {
    await fx.database.db.delete(federationRemotes);
  });

  it("records the remote group in the tree; the local part commits; this deployment's relays alone rebuild nothing, with X's sub-shares the file", async () => {
    const data = randomBytes(300_000);
    const r = await reserveFile(fx.alice, { name: 'fed.bin', size: data.length, type: 'application/octet-stream', layout: layout() });
    const tree = r.layout!;
    const g = tree.groups[2]!;
    expect(g).toMatchObject({ kind: 'remote', deployment: DEPLOYMENT, k: 2, n: 3, fileId: SUB_FILE, label: 'deployment X' });
    // Placements and tokens for this deployment's relays only: nothing here can reach X's relays.
    expect(r.placements.map((p) => p.relayId)).toEqual(ids());
    expect(r.n).toBe(6);
    // The browser's encoding tree: the remote group with X's relays and x's (drawn there, so they may meet ours).
    const remoteXs = r.placements.slice(0, 3).map((p) => p.x);
    const encoding: TreeManifest = {
      ...tree,
      groups: tree.groups.map((gr) => (gr.kind === 'remote' ? { kind: 'local', x: gr.x, k: gr.k, relays: remoteXs.map((x, i) => ({ relayId: `x-${i}`, x })) } : gr))
    };
    const p = await createProtectStream({
      k: 2,
      xs: [],
      tree: encoding,
      fileId: fileIdFromHex(r.fileId),
      file: { name: r.name ?? 'fed.bin', size: data.length, type: 'application/octet-stream', chunkSize: r.chunkSize }
    });
    const writing = (async () => {
      const w = p.writable.getWriter();
      await w.write(data);
      await w.close();
    })();
    const chunks: EncodedChunk[] = [];
    const digests = r.placements.map(() => [] as string[]);
    for await (const c of p.readable) {
      chunks.push(c);
      await Promise.all(
        r.placements.map(async (pl, j) => {
          const client = new RelayClient({ id: pl.relayId, name: pl.name, url: pl.url }, { token: () => pl.token });
          digests[j]!.push((await client.put(r.fileId, c.index, new Uint8Array(c.shares[j]!))).digest);
        })
      );
    }
    await writing;
    const roots: Record<string, string> = {};
    for (const [j, pl] of r.placements.entries()) roots[pl.relayId] = await digestRoot(digests[j]!);
    await commitFile(fx.alice, r.fileId, { roots });
    const m = await manifest(fx.alice, r.fileId);
    expect(m.layout).toEqual(tree);
    expect(m.placements.every((pl) => pl.groupX !== tree.groups[2]!.x)).toBe(true);
    // Everything this deployment holds (all six relays, its database's tree and tokens): not the file.
    expect(await errorCode(retrieveTree(fx.alice, r.fileId, ids()))).toBe('NOT_ENOUGH_SHARES');
    // X's two sub-shares (positions 6, 7 of the encoding tree) with two relays of each local group.
    const rs = createRetrieveStream({ fileId: fileIdFromHex(r.fileId), epoch: m.epoch, k: tree.k, tree: true });
    const feeding = (async () => {
      const w = rs.writable.getWriter();
      for (const c of chunks) await w.write({ index: c.index, shares: [0, 1, 3, 5, 6, 7].map((j) => new Uint8Array(c.shares[j]!)) });
      await w.close();
    })();
    const parts: Uint8Array[] = [];
    for await (const part of rs.readable) parts.push(part);
    await feeding;
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    await removeFile(fx.alice, r.fileId);
  });

  it('refuses malformed remote groups, unlinked deployments, revoked links and a sub-file twice, with codes, storing nothing', async () => {
    const db = fx.database.db;
    const stored = async () => [(await db.select({ n: count() }).from(files))[0]!.n, (await db.select({ n: count() }).from(placements))[0]!.n];
    const start = await stored();
    const twice = { ...layout(), groups: [...layout().groups, remote()] };
    const cases: Array<[ErrorCode, number, unknown]> = [
      ['LAYOUT_INVALID', 400, layout(remote({ fileId: undefined }))],
      ['LAYOUT_INVALID', 400, layout(remote({ fileId: 'not hex' }))],
      ['LAYOUT_INVALID', 400, layout(remote({ fileId: 'AB'.repeat(16) }))],
      ['LAYOUT_INVALID', 400, layout(remote({ fileId: 7 }))],
      ['LAYOUT_INVALID', 400, layout(remote({ deployment: '' }))],
      ['LAYOUT_INVALID', 400, layout(remote({ deployment: 'd'.repeat(101) }))],
      ['LAYOUT_INVALID', 400, layout(remote({ n: 2.5 }))],
      ['LAYOUT_EMPTY_GROUP', 400, layout(remote({ n: 0 }))],
      ['LAYOUT_GROUP_THRESHOLD', 400, layout(remote({ k: 4 }))],
      ['LAYOUT_INVALID', 400, layout(remote({ n: 250 }))],
      ['LAYOUT_UNKNOWN_DEPLOYMENT', 400, layout(remote({ deployment: 'dep-unknown' }))],
      ['LAYOUT_RELAY_TWICE', 400, twice],
      // This deployment's two groups would be K: its coordinator alone could rebuild the file.
      ['LAYOUT_ONE_DEPLOYMENT', 400, layout(remote(), 2)]
    ];
    for (const [code, status, bad] of cases) {
      const err = await reserveFile(fx.alice, { name: `bad-${code}.bin`, size: 10, type: 'text/plain', layout: bad }).then(
        () => undefined,
        (e: unknown) => e
      );
      expect((err as { code?: string } | undefined)?.code, JSON.stringify(bad)).toBe(code);
      expect(errorResponse(err).status).toBe(status);
    }
    // A link revoked at X (H's refresh marked it): refused before anything is stored.
    await db.update(federationRemotes).set({ status: 'revoked' }).where(eq(federationRemotes.deploymentId, DEPLOYMENT));
    const revoked = await reserveFile(fx.alice, { name: 'revoked.bin', size: 10, layout: layout() }).then(
      () => undefined,
      (e: unknown) => e
    );
    expect((revoked as { code?: string }).code).toBe('FEDERATION_REVOKED');
    expect(errorResponse(revoked).status).toBe(403);
    // The batch reservation checks each item the same way.
    const batch = await reserveFiles(fx.alice, { files: [{ name: 'batch-revoked.bin', size: 10, layout: layout() }] });
    expect(batch.results[0]).toMatchObject({ ok: false, error: { code: 'FEDERATION_REVOKED' } });
    expect(await stored()).toEqual(start);
  });

  it('a link that is only unreachable right now is accepted (the browser reaches X itself)', async () => {
    await fx.database.db.update(federationRemotes).set({ status: 'unreachable' });
    const r = await reserveFile(fx.alice, { name: 'unreachable.bin', size: 10, layout: layout() });
    expect(r.layout?.groups[2]).toMatchObject({ kind: 'remote', fileId: SUB_FILE });
    expect(await errorCode(removeFile(fx.alice, r.fileId))).toBeUndefined();
  });
});
