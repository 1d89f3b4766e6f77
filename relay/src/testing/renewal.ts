/**
 * A cluster of real relays on loopback for renewal tests (#15): n relay apps, each on its own store (disk,
 * or S3 against a real s3rver), with one coordinator key, and the coordinator's side of the protocol
 * (shared/docs/renewal.md) driven step by step, as the coordinator's job will.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HEADER_BYTES,
  checkNonce,
  RelayClient,
  createProtectStream,
  createRetrieveStream,
  failedEquations,
  fileIdFromHex,
  fileIdToHex,
  mulConstant,
  parityWeights,
  treeParityWeights,
  type TokenOp,
  type TreeManifest,
  type TreeSharing,
  randomBytes,
  randomHex,
  randomUuid
} from '@kofn/shared';
import { createApp } from '../app.js';
import { loadConfig } from '../config.js';
import { gmac, receiversHash, type Receiver } from '../renewal.js';
import { DiskStore } from '../storage/disk.js';
import { S3Store } from '../storage/s3.js';
import type { ChunkStore } from '../storage/types.js';
import { startS3 } from './s3.js';
import { listen } from './server.js';
import { makeSigner, type Signer } from './tokens.js';

export interface TestRelay {
  id: string;
  name: string;
  url: string;
  /** The relay's data folder (disk: its chunks; S3: only its spool). */
  root: string;
  store: ChunkStore;
  app: ReturnType<typeof createApp>;
  close: () => Promise<void>;
}

export interface Cluster {
  relays: TestRelay[];
  signer: Signer;
  close: () => Promise<void>;
}

export type StorageKind = 'disk' | 's3';

/** n relays; with 's3' each has its own s3rver (one bucket per relay, as separate operators would). */
export async function startCluster(n: number, storage: StorageKind = 'disk'): Promise<Cluster> {
  const signer = await makeSigner('unused');
  const relays: TestRelay[] = [];
  const stops: Array<() => Promise<void>> = [];
  for (let j = 0; j < n; j++) {
    const s3 = storage === 's3' ? await startS3() : undefined;
    if (s3) stops.push(s3.stop);
    const root = mkdtempSync(join(tmpdir(), 'kofn-renew-'));
    const config = loadConfig(undefined, { KOFN_RELAY_NAME: `relay-${j}`, KOFN_RELAY_LOCATION: 'Lab', KOFN_RELAY_DATA: root, KOFN_WEB_ORIGINS: 'http://127.0.0.1:8080' });
    const store: ChunkStore = s3
      ? new S3Store({ endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, forcePathStyle: true, credentials: s3.credentials, spoolDir: join(root, 'tmp') })
      : new DiskStore(root);
    await store.init();
    const id = randomUuid();
    const app = createApp({ config, relayId: id, store, keys: signer.publicKey });
    const server = await listen(app);
    relays.push({ id, name: `relay-${j}`, url: `http://127.0.0.1:${server.port}`, root, store, app, close: server.close });
  }
  return {
    relays,
    signer,
    close: async () => {
      for (const r of relays) await r.close();
      for (const stop of stops) await stop();
    }
  };
}

export interface StoredFile {
  fileId: string;
  k: number;
  xs: number[];
  /** Chunk count + 1 (the metadata record is chunk 0). */
  chunks: number;
  /** Body length of each share chunk, by index. */
  bodyLengths: number[];
}

/** Splits `data` like the browser does and PUTs share j of every chunk to relay j. */
/** Protects `data` onto every relay of the cluster; `mode` 'compact' (issue #23) stores AES-GCM + Reed-Solomon fragments. */
export async function protectOnto(cluster: Cluster, data: Uint8Array, k: number, chunkSize = 64 * 1024, mode: 'shamir' | 'compact' = 'shamir', tree?: TreeManifest): Promise<StoredFile> {
  // A tree file (#21) lists the cluster's relays in order, group by group: share j still goes to relay j.
  const xs = tree ? tree.groups.flatMap((g) => (g.kind === 'local' ? g.relays.map((r) => r.x) : [])) : cluster.relays.map((_, j) => 10 + 7 * j);
  const fileIdBytes = randomBytes(16);
  const p = await createProtectStream({ k, xs, fileId: fileIdBytes, file: { name: 'f.bin', size: data.length, type: 'application/octet-stream', chunkSize }, mode, ...(tree ? { tree } : {}) });
  const writing = (async () => {
    const w = p.writable.getWriter();
    if (data.length) await w.write(data);
    await w.close();
  })();
  const fileId = fileIdToHex(fileIdBytes);
  // Chunk 0 is the metadata record; data chunks follow. Each chunk is stored as it comes out of the stream,
  // so a 64 MiB file never holds all n shares of every chunk in memory at once.
  const last = Math.ceil(data.length / chunkSize);
  const tokens = await Promise.all(cluster.relays.map((r) => cluster.signer.mint({ fid: fileId, op: 'put', chunks: [0, last + 1] }, { aud: r.id })));
  const bodyLengths: number[] = [];
  for await (const c of p.readable) {
    bodyLengths.push(c.shares[0]!.length - HEADER_BYTES);
    for (const [j, r] of cluster.relays.entries()) {
      const res = await r.app.request(`/v1/files/${fileId}/chunks/${c.index}`, { method: 'PUT', headers: { Authorization: `Bearer ${tokens[j]!}` }, body: c.shares[j]! });
      if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
    }
  }
  await writing;
  return { fileId, k, xs, chunks: bodyLengths.length, bodyLengths };
}

export function mint(cluster: Cluster, relay: TestRelay, fileId: string, op: TokenOp, extra: Record<string, unknown> = {}): Promise<string> {
  return cluster.signer.mint({ fid: fileId, op, chunks: [0, 1000], ...extra }, { aud: relay.id });
}

/** Reads share chunk `index` of a file at `epoch` from a relay (token claim "ep"). */
export async function readShare(cluster: Cluster, relay: TestRelay, fileId: string, index: number, epoch: number): Promise<Uint8Array> {
  const token = await mint(cluster, relay, fileId, 'get', { ep: epoch });
  const res = await relay.app.request(`/v1/files/${fileId}/chunks/${index}`, { headers: { Authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`read failed: ${res.status} ${await res.text()}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Rebuilds a file from the given relays' shares at the given epoch for each relay; throws KofnError codes. */
export async function rebuild(file: StoredFile, shares: (index: number) => Promise<Uint8Array[]>): Promise<Uint8Array> {
  const rs = createRetrieveStream({ fileId: fileIdFromHex(file.fileId) });
  const writer = rs.writable.getWriter();
  const reading = (async () => {
    const parts: Uint8Array[] = [];
    for await (const p of rs.readable) parts.push(p);
    return parts;
  })();
  reading.catch(() => undefined);
  try {
    for (let i = 0; i < file.chunks; i++) await writer.write({ index: i, shares: await shares(i) });
    await writer.close();
  } catch (err) {
    await reading.catch(() => undefined);
    throw err;
  }
  const parts = await reading;
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface RenewOptions {
  /** Positions (in cluster.relays) of the dealers; default the first k. */
  dealers?: number[];
  /** Relays to stage on; default all. */
  skipCheck?: boolean;
  /**
   * Chunks per deal, prepare and check request, walked range by range as the coordinator's job does
   * (shared/src/step-ranges.ts) so no request stays silent over a large file; default the whole file in one.
   */
  rangeChunks?: number;
}

/** A chunk range of a step's body (`from`, `to`, inclusive); undefined: the whole file. */
export type StepRange = { from: number; to: number } | undefined;

/** The ranges of `rangeChunks` chunks covering a file of `chunks` chunks, or one whole-file step. */
export function stepRanges(chunks: number, rangeChunks?: number): StepRange[] {
  if (rangeChunks === undefined) return [undefined];
  const out: StepRange[] = [];
  for (let from = 0; from < chunks; from += rangeChunks) out.push({ from, to: Math.min(chunks, from + rangeChunks) - 1 });
  return out;
}

/** Renewal steps 1-4 (deal, prepare, check) from `epoch` to `epoch + 1`; answers the failed equations. */
export async function dealPrepareCheck(cluster: Cluster, file: StoredFile, epoch: number, opts: RenewOptions = {}): Promise<number[]> {
  const next = epoch + 1;
  const dealers = opts.dealers ?? [...Array(file.k).keys()];
  const dxs = dealers.map((d) => file.xs[d]!);
  const ranges = stepRanges(file.chunks, opts.rangeChunks);
  for (const range of ranges) await Promise.all(dealers.map((d) => deal(cluster, file, next, d, range)));
  for (const r of cluster.relays) {
    const prepare = client(r, await mint(cluster, r, file.fileId, 'renew_prepare', { ep: next, dxs }));
    for (const range of ranges) await prepare.renewalStep(file.fileId, next, 'prepare', { ...range }, 1 << 20);
  }
  return check(cluster, file, next, dxs, ranges);
}

export async function receiversFor(cluster: Cluster, file: StoredFile, next: number, dealer: number): Promise<Receiver[]> {
  return Promise.all(
    cluster.relays.map(async (r, j) => ({
      x: file.xs[j]!,
      id: r.id,
      name: r.name,
      url: r.url,
      token: await mint(cluster, r, file.fileId, 'renew_put', { ep: next, dx: file.xs[dealer]!, chunks: [0, file.chunks - 1], max: Math.max(...file.bodyLengths) + HEADER_BYTES })
    }))
  );
}

export async function deal(cluster: Cluster, file: StoredFile, next: number, dealer: number, range?: StepRange): Promise<unknown> {
  const receivers = await receiversFor(cluster, file, next, dealer);
  const r = cluster.relays[dealer]!;
  const token = await mint(cluster, r, file.fileId, 'renew_deal', { ep: next, rh: receiversHash(receivers) });
  return client(r, token).renewalStep(file.fileId, next, 'deal', { receivers, ...range }, 1024);
}

/**
 * Step 4 with the dealers `dxs` (default the first k x), whose check pads every relay adds to its tags; range
 * by range when `ranges` has several (only the last range answers tags, renewal.md "Steps by ranges").
 */
export async function checkTags(cluster: Cluster, file: StoredFile, next: number, key: Uint8Array, dxs = file.xs.slice(0, file.k), ranges: StepRange[] = [undefined]): Promise<Uint8Array[][]> {
  const weights = parityWeights(file.xs, file.k);
  const tags: Uint8Array[][] = [];
  for (const [j, r] of cluster.relays.entries()) {
    const token = await mint(cluster, r, file.fileId, 'renew_check', { ep: next, w: weights[j], dxs });
    let a: { tags?: string[] } = {};
    for (const range of ranges) a = (await client(r, token).renewalStep(file.fileId, next, 'check', { key: Buffer.from(key).toString('base64url'), ...range }, 64 * 1024)) as { tags?: string[] };
    if (!a.tags) throw new Error(`relay ${r.name} answered no tags after the last range`);
    tags.push(a.tags.map((t) => new Uint8Array(Buffer.from(t, 'base64url'))));
  }
  return tags;
}

export async function check(cluster: Cluster, file: StoredFile, next: number, dxs = file.xs.slice(0, file.k), ranges: StepRange[] = [undefined]): Promise<number[]> {
  const key = randomBytes(16);
  const tags = await checkTags(cluster, file, next, key, dxs, ranges);
  return failedEquations(
    tags,
    key,
    file.bodyLengths.map((bodyLength, index) => ({ index, bodyLength }))
  );
}

/** Renewal steps are silent until done: a minute for headers leaves room on a loaded machine (load 10-40). */
export function client(r: TestRelay, token: string): RelayClient {
  return new RelayClient({ id: r.id, name: r.name, url: r.url }, { token: () => token, retry: { attempts: 1 }, timeouts: { headersMs: 60_000 } });
}

/** What relay j's tags were without pads: XOR over chunks of GMAC_K(nonce(eq, i), w_eq * (new - old)). */
export async function unpaddedTags(cluster: Cluster, file: StoredFile, j: number, key: Uint8Array, next: number): Promise<Buffer[]> {
  const weights = parityWeights(file.xs, file.k)[j]!;
  const tags = weights.map(() => Buffer.alloc(16));
  const r = cluster.relays[j]!;
  for (let i = 0; i < file.chunks; i++) {
    const old = await readShare(cluster, r, file.fileId, i, next - 1);
    const now = await readShare(cluster, r, file.fileId, i, next);
    const update = new Uint8Array(old.length - HEADER_BYTES);
    for (let b = 0; b < update.length; b++) update[b] = old[HEADER_BYTES + b]! ^ now[HEADER_BYTES + b]!;
    weights.forEach((w, eq) => {
      const t = gmac(key, checkNonce(eq, i), mulConstant(update, w));
      for (let b = 0; b < 16; b++) tags[eq]![b]! ^= t[b]!;
    });
  }
  return tags;
}

/** XOR over relays of equation `eq`'s tag: what the coordinator's check reads. */
export function xorAll(rows: Uint8Array[][], eq: number): Buffer {
  const acc = Buffer.alloc(16);
  for (const row of rows) for (let b = 0; b < 16; b++) acc[b]! ^= row[eq]![b]!;
  return acc;
}

/**
 * Drives a cluster's in-process repair routes (relay/src/repair.ts) for one stored file at epoch 0, as the
 * coordinator does (repair.ts rebuildShareOn): tests of repair modes and bounds share it.
 */
export function repairDriver(cluster: Cluster, file: StoredFile) {
  /** POSTs `body` to relay j's repair route `path` with a token for `op`: the status and the parsed answer. */
  const post = async (j: number, path: string, op: TokenOp, body: unknown) => {
    const r = cluster.relays[j]!;
    const res = await r.app.request(`/v1/repair/${file.fileId}/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await mint(cluster, r, file.fileId, op, { chunks: [0, 0] })}`, 'content-type': 'application/json' },
      body: JSON.stringify(body)
    });
    return [res.status, (await res.json()) as { error?: { code: string }; from?: number; digests?: string[] }] as const;
  };
  /** Relay j loses its share of the file (a disk loss): every chunk of epoch 0 is gone. */
  const drop = async (j: number): Promise<void> => {
    const r = cluster.relays[j]!;
    await client(r, await mint(cluster, r, file.fileId, 'renew_drop', { ep: 0, dxs: [] })).dropEpoch(file.fileId, 0);
    if ((await r.store.list(file.fileId)).length > 0) throw new Error(`relay ${j + 1} still holds chunks after the drop`);
  };
  /** Every chunk relay j holds of the file. */
  const shareOf = (j: number) => Promise.all(Array.from({ length: file.chunks }, (_, i) => readShare(cluster, cluster.relays[j]!, file.fileId, i, 0)));
  /** Chunk i's shares from the given relays, for `rebuild`. */
  const sharesOf = (relays: number[]) => (i: number) => Promise.all(relays.map((j) => readShare(cluster, cluster.relays[j]!, file.fileId, i, 0)));
  /**
   * Relay `receiver` gets the share at `xNew` (threshold k) from the relays at `helpers` (start, seeds, collect):
   * answers the collect's status and error code; a helper refusing to start throws.
   */
  const repair = async (receiver: number, helpers: number[], xNew: number, k: number) => {
    const xs = helpers.map((j) => file.xs[j]!);
    const rid = randomHex(16);
    for (const [self, j] of helpers.entries()) {
      const peers = await Promise.all(
        helpers.slice(self + 1).map(async (p) => ({ url: cluster.relays[p]!.url, token: await mint(cluster, cluster.relays[p]!, file.fileId, 'repair_seed', { chunks: [self, self] }) }))
      );
      const [status, answer] = await post(j, 'start', 'repair_start', { rid, xs, self, xNew, epoch: 0, chunkCount: file.chunks - 1, peers });
      if (status !== 200) throw new Error(`helper ${j + 1} refused the repair: ${status} ${answer.error?.code}`);
    }
    const sources = await Promise.all(helpers.map(async (j) => ({ url: cluster.relays[j]!.url, token: await mint(cluster, cluster.relays[j]!, file.fileId, 'repair_send', { chunks: [0, 0] }) })));
    const [status, answer] = await post(receiver, 'collect', 'repair_collect', { rid, x: xNew, k, epoch: 0, chunkCount: file.chunks - 1, helpers: sources });
    return [status, answer.error?.code] as const;
  };
  return { post, drop, shareOf, sharesOf, repair };
}

// ---- tree files (#21; renewal.md, "Tree files") ----

/** The sharing of a tree file's local groups, in tree order, as treeParityWeights takes it. */
export function treeSharingOf(tree: TreeManifest): TreeSharing {
  return { k: tree.k, groups: tree.groups.flatMap((g) => (g.kind === 'local' ? [{ x: g.x, k: g.k, xs: g.relays.map((r) => r.x) }] : [])) };
}

/** The default dealers of a tree file: the first k_g relays of each of the first K groups (positions in the cluster). */
export function treeDealers(tree: TreeManifest): number[] {
  const out: number[] = [];
  let first = 0;
  for (const [gi, g] of treeSharingOf(tree).groups.entries()) {
    if (gi < tree.k) for (let j = 0; j < g.k; j++) out.push(first + j);
    first += g.xs.length;
  }
  return out;
}

/** Every relay of the cluster as a receiver of `dealer`'s tree deal, with its group point and k_g. */
export async function treeReceiversFor(cluster: Cluster, file: StoredFile, tree: TreeManifest, next: number, dealer: number): Promise<Receiver[]> {
  const plain = await receiversFor(cluster, file, next, dealer);
  const groupOf = treeSharingOf(tree).groups.flatMap((g) => g.xs.map(() => g));
  return plain.map((r, j) => ({ ...r, gx: groupOf[j]!.x, gk: groupOf[j]!.k }));
}

/** A tree deal by relay `dealer`, its token binding the receivers with their groups and K. */
export async function dealTree(cluster: Cluster, file: StoredFile, tree: TreeManifest, next: number, dealer: number, range?: StepRange): Promise<unknown> {
  const receivers = await treeReceiversFor(cluster, file, tree, next, dealer);
  const r = cluster.relays[dealer]!;
  const token = await mint(cluster, r, file.fileId, 'renew_deal', { ep: next, rh: receiversHash(receivers, tree.k) });
  return client(r, token).renewalStep(file.fileId, next, 'deal', { receivers, K: tree.k, ...range }, 1024);
}

/** Step 4 of a tree file with treeParityWeights: every relay's padded tags (dealers `dxs`), then the failed equations. */
export async function checkTree(cluster: Cluster, file: StoredFile, tree: TreeManifest, next: number, dxs: number[]): Promise<number[]> {
  const weights = treeParityWeights(treeSharingOf(tree));
  const key = randomBytes(16);
  const tags: Uint8Array[][] = [];
  for (const [j, r] of cluster.relays.entries()) {
    const token = await mint(cluster, r, file.fileId, 'renew_check', { ep: next, w: weights[j], dxs });
    const a = (await client(r, token).renewalStep(file.fileId, next, 'check', { key: Buffer.from(key).toString('base64url') }, 64 * 1024)) as { tags?: string[] };
    if (!a.tags) throw new Error(`relay ${r.name} answered no tags`);
    tags.push(a.tags.map((t) => new Uint8Array(Buffer.from(t, 'base64url'))));
  }
  return failedEquations(
    tags,
    key,
    file.bodyLengths.map((bodyLength, index) => ({ index, bodyLength }))
  );
}

/** Tree renewal steps 1-4 from `epoch` to `epoch + 1` (dealers default: treeDealers); answers the failed equations. */
export async function dealPrepareCheckTree(cluster: Cluster, file: StoredFile, tree: TreeManifest, epoch: number, dealers = treeDealers(tree)): Promise<number[]> {
  const next = epoch + 1;
  const dxs = dealers.map((d) => file.xs[d]!);
  await Promise.all(dealers.map((d) => dealTree(cluster, file, tree, next, d)));
  for (const r of cluster.relays) {
    const prepare = client(r, await mint(cluster, r, file.fileId, 'renew_prepare', { ep: next, dxs }));
    await prepare.renewalStep(file.fileId, next, 'prepare', {}, 1 << 20);
  }
  return checkTree(cluster, file, tree, next, dxs);
}
