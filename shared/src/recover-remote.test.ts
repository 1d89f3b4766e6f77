/**
 * Offline recovery of tree files with a group on another deployment (issue #21 part 2; recover-remote.ts).
 * The folders are written as the two deployments' disk relays store them: the home deployment's relays hold
 * version-3 sub-shares under the home file's id, the other deployment's relays hold the remote group's
 * sub-shares as an ordinary flat file (version 1, its own id and epoch), as web remote-chunks.ts writes them.
 * The e2e with two real deployments and Chromium is e2e/tests/federation-files.spec.ts.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createProtectStream, type EncodedChunk } from './streams.js';
import { fileIdToHex } from './ids.js';
import { randomBytes } from './random.js';
import { recoverDirectories } from './recover.js';
import { liftSubFileChunk } from './recover-remote.js';
import { epochStorageId } from './epoch-ids.js';
import { FORMAT_VERSION, FORMAT_VERSION_TREE, HEADER_BYTES, parseHeader } from './chunk-format.js';
import type { TreeManifest } from './layout.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Stores one share chunk as a disk relay does: chunks/<id[0:2]>/<storage id>/<index>.<sha256>. */
function store(dir: string, storageId: string, index: number, chunk: Uint8Array): void {
  const d = join(dir, 'chunks', storageId.slice(0, 2), storageId);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, `${index}.${sha(chunk)}`), chunk);
}

/** What web remote-chunks.ts `toRemoteChunk` writes for the other deployment: version 1, its id and epoch. */
function toRemote(chunk: Uint8Array, subFileId: Uint8Array, epoch: number): Uint8Array {
  const out = chunk.slice();
  out[4] = FORMAT_VERSION;
  out.set(subFileId, 8);
  new DataView(out.buffer).setUint32(28, epoch);
  out.fill(0, 36, 40);
  return out;
}

/** Every temporary folder made here, removed after the suite. */
const made: string[] = [];
const tempDir = (prefix: string): string => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
};
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function folders(prefix: string, n: number): string[] {
  const root = tempDir(`kofn-fed-${prefix}-`);
  return Array.from({ length: n }, (_, i) => {
    const d = join(root, `relay-${i + 1}`);
    mkdirSync(d);
    return d;
  });
}

interface Group {
  x: number;
  k: number;
  /** One relay folder per relay of the group. */
  dirs: string[];
  /** A group on another deployment: its sub-file's id and epoch there. */
  remote?: { fileId: Uint8Array; epoch: number };
}

/** Protects `data` as a tree file over `groups` (the remote ones split like any group, as the browser does). */
async function protectTree(name: string, data: Uint8Array, K: number, groups: Group[], chunkSize = 1000): Promise<string> {
  const fileId = randomBytes(16);
  let x = 0;
  const tree: TreeManifest = { kind: 'tree', k: K, groups: groups.map((g) => ({ kind: 'local', x: g.x, k: g.k, relays: g.dirs.map((_, j) => ({ relayId: `r${g.x}-${j}`, x: ++x })) })) };
  const p = await createProtectStream({ k: K, xs: [], tree, fileId, file: { name, size: data.length, type: 'application/octet-stream', chunkSize } });
  const writing = (async () => {
    const w = p.writable.getWriter();
    await w.write(data);
    await w.close();
  })();
  const chunks: EncodedChunk[] = [];
  for await (const c of p.readable) chunks.push(c);
  await writing;
  let at = 0;
  for (const g of groups) {
    for (const dir of g.dirs) {
      for (const c of chunks) {
        const share = c.shares[at]!;
        if (g.remote) store(dir, epochStorageId(fileIdToHex(g.remote.fileId), g.remote.epoch), c.index, toRemote(share, g.remote.fileId, g.remote.epoch));
        else store(dir, fileIdToHex(fileId), c.index, share);
      }
      at++;
    }
  }
  return fileIdToHex(fileId);
}

/** An ordinary flat file on the given folders (k = 2). */
async function protectFlat(name: string, data: Uint8Array, dirs: string[], chunkSize = 1000): Promise<string> {
  const fileId = randomBytes(16);
  const hex = fileIdToHex(fileId);
  const p = await createProtectStream({ k: 2, xs: dirs.map((_, i) => 40 + i), fileId, file: { name, size: data.length, type: 'application/octet-stream', chunkSize } });
  const writing = (async () => {
    const w = p.writable.getWriter();
    await w.write(data);
    await w.close();
  })();
  for await (const c of p.readable) dirs.forEach((d, j) => store(d, hex, c.index, c.shares[j]!));
  await writing;
  return hex;
}

const outDir = (): string => tempDir('kofn-fed-out-');

describe('kofn-recover: a tree file with a group on another deployment', () => {
  it('rebuilds the file from one local group and the remote group (a flat file under its own id, renewed there), and finds the group x by the tag', async () => {
    const [a1, a2, b1, b2] = folders('home', 4);
    const xDirs = folders('x', 3);
    const subId = randomBytes(16);
    const data = randomBytes(4321);
    const id = await protectTree('report.pdf', data, 2, [
      { x: 200, k: 2, dirs: [a1!, a2!] },
      { x: 17, k: 2, dirs: [b1!, b2!] },
      // X renewed its file twice: its chunks carry epoch 2 and live under the epoch's storage id.
      { x: 143, k: 2, dirs: xDirs, remote: { fileId: subId, epoch: 2 } }
    ]);
    // Another file at X of exactly the same shape (same size, same name length): tried, not taken, recovered as itself.
    const other = randomBytes(4321);
    const otherId = await protectFlat('report.doc', other, xDirs);
    const out = outDir();
    const report = await recoverDirectories([a1!, a2!, xDirs[0]!, xDirs[2]!], out);
    const byId = new Map(report.files.map((f) => [f.fileId, f]));
    expect(report.files.map((f) => f.fileId).sort()).toEqual([id, otherId].sort());
    expect(byId.get(id)?.error).toBeUndefined();
    expect(byId.get(id)?.remoteGroups).toEqual([{ fileId: fileIdToHex(subId), epoch: 2, groupX: 143, k: 2, relayDirs: [xDirs[0]!, xDirs[2]!].sort() }]);
    expect(byId.get(id)?.badShares).toEqual([]);
    expect(byId.get(id)?.missingChunks).toEqual([]);
    expect(sha(readFileSync(join(out, 'report.pdf')))).toBe(sha(data));
    expect(byId.get(otherId)?.error).toBeUndefined();
    expect(sha(readFileSync(join(out, 'report.doc')))).toBe(sha(other));
    const manifest = JSON.parse(readFileSync(report.manifestPath, 'utf8')) as { files: Array<{ fileId: string; remoteGroups?: unknown[] }> };
    expect(manifest.files.find((f) => f.fileId === id)?.remoteGroups).toHaveLength(1);
  });

  it('with fewer than K groups refuses with NOT_ENOUGH_SHARES naming what is held and what is missing, and writes nothing', async () => {
    const [a1, a2, b1, b2] = folders('home', 4);
    const xDirs = folders('x', 3);
    const subId = randomBytes(16);
    const id = await protectTree('secret.txt', randomBytes(2500), 2, [
      { x: 9, k: 2, dirs: [a1!, a2!] },
      { x: 10, k: 2, dirs: [b1!, b2!] },
      { x: 11, k: 2, dirs: xDirs, remote: { fileId: subId, epoch: 0 } }
    ]);
    const subHex = fileIdToHex(subId);
    // One complete local group, one relay of the other, one relay of X: K-1 groups' worth.
    const out = outDir();
    const report = await recoverDirectories([a1!, a2!, b1!, xDirs[1]!], out);
    expect(report.files).toHaveLength(2);
    const home = report.files.find((f) => f.fileId === id)!;
    expect(home.error?.code).toBe('NOT_ENOUGH_SHARES');
    expect(home.error?.message).toContain('needs 2 groups with k_g relays each; these folders hold 1');
    expect(home.error?.message).toContain(`group 9 (2 of 2 relays: ${[a1!, a2!].sort().join(', ')})`);
    expect(home.error?.message).toContain(`too few relays: group 10 (1 of 2 relays: ${b1!})`);
    expect(home.error?.message).toContain(`${subHex} (1 of 2: ${xDirs[1]!})`);
    expect(home.error?.message).toContain('add the relay folders of 1 more group');
    // The sub-file cannot be told from a file of its own: it is listed as one that failed.
    expect(report.files.find((f) => f.fileId === subHex)?.error?.code).toBe('NOT_ENOUGH_SHARES');
    expect(readdirSync(out)).toEqual(['kofn-recover-manifest.json']);

    // Only X's group, whole: the home file's id is in none of those chunks, so nothing can be rebuilt.
    const onlyX = await recoverDirectories(xDirs, outDir());
    expect(onlyX.files.map((f) => [f.fileId, f.error?.code])).toEqual([[subHex, 'AUTH_FAILED']]);
    expect(onlyX.files[0]!.error?.message).toContain("a group of a multi-level file kept on this deployment for another one, add the relay folders of that file's other groups");
  });

  it('with K groups here, still names the remote group instead of failing its sub-file as a file', async () => {
    const [a1, a2, b1, b2] = folders('home', 4);
    const xDirs = folders('x', 2);
    const subId = randomBytes(16);
    const data = randomBytes(0);
    const id = await protectTree('e', data, 2, [
      { x: 1, k: 2, dirs: [a1!, a2!] },
      { x: 2, k: 2, dirs: [b1!, b2!] },
      { x: 255, k: 2, dirs: xDirs, remote: { fileId: subId, epoch: 0 } }
    ]);
    const report = await recoverDirectories([a1!, a2!, b1!, b2!, ...xDirs], outDir());
    expect(report.files.map((f) => [f.fileId, f.error?.code, f.remoteGroups?.map((g) => g.groupX)])).toEqual([[id, undefined, [255]]]);
  });

  it('finds two remote groups together when each alone cannot authenticate (K = 3, one local group)', async () => {
    const [a1, a2] = folders('home', 2);
    const xDirs = folders('x', 2);
    const yDirs = folders('y', 2);
    const data = randomBytes(3000);
    const [xId, yId] = [randomBytes(16), randomBytes(16)];
    const id = await protectTree('two-remotes.bin', data, 3, [
      { x: 5, k: 2, dirs: [a1!, a2!] },
      { x: 3, k: 2, dirs: xDirs, remote: { fileId: xId, epoch: 0 } },
      { x: 4, k: 2, dirs: yDirs, remote: { fileId: yId, epoch: 1 } },
      { x: 6, k: 2, dirs: folders('lost', 2) }
    ]);
    const out = outDir();
    // Group 5 complete, groups 3 and 4 at X and Y: K - 1 = 2 known only after both remote groups are found.
    const report = await recoverDirectories([a1!, a2!, ...xDirs, ...yDirs], out);
    expect(report.files.map((f) => [f.fileId, f.error?.code])).toEqual([[id, undefined]]);
    expect(report.files[0]!.remoteGroups?.map((g) => g.groupX).sort()).toEqual([3, 4]);
    expect(sha(readFileSync(join(out, 'two-remotes.bin')))).toBe(sha(data));
  });

  it('lifts only a version-1 chunk of exactly that sub-file and epoch', () => {
    const chunk = new Uint8Array(HEADER_BYTES + 4);
    chunk.set([0x4b, 0x4f, 0x46, 0x4e, FORMAT_VERSION, 2, 7, 2]);
    const sub = randomBytes(16);
    chunk.set(sub, 8);
    new DataView(chunk.buffer).setUint32(28, 3);
    new DataView(chunk.buffer).setUint32(32, 4);
    const home = randomBytes(16);
    const lift = { subFileId: sub, subEpoch: 3, homeFileId: home, homeEpoch: 0, groupX: 99, K: 2 };
    expect(liftSubFileChunk(chunk.slice(), { ...lift, subEpoch: 4 })[4]).toBe(FORMAT_VERSION);
    expect(liftSubFileChunk(chunk.slice(), { ...lift, subFileId: randomBytes(16) })[4]).toBe(FORMAT_VERSION);
    const h = parseHeader(liftSubFileChunk(chunk.slice(), lift));
    expect(h).toMatchObject({ x: 7, k: 2, epoch: 0, group: { x: 99, k: 2 } });
    expect([...h.fileId]).toEqual([...home]);
    const tree = chunk.slice();
    tree[4] = FORMAT_VERSION_TREE;
    expect(liftSubFileChunk(tree.slice(), lift)).toEqual(tree);
  });
});
