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
  type TokenOp,
  randomBytes,
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
export async function protectOnto(cluster: Cluster, data: Uint8Array, k: number, chunkSize = 64 * 1024, mode: 'shamir' | 'compact' = 'shamir'): Promise<StoredFile> {
  const xs = cluster.relays.map((_, j) => 10 + 7 * j);
  const fileIdBytes = randomBytes(16);
  const p = await createProtectStream({ k, xs, fileId: fileIdBytes, file: { name: 'f.bin', size: data.length, type: 'application/octet-stream', chunkSize }, mode });
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
